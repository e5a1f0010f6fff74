/*
 * bench/speed_rows.c - the speed rows (--speed-only, and after the others
 * in a full run): on a warm sandbox pinned to two CPUs, `result = 1 + 1`
 * and a pandas groupby back to back and with pauses between requests,
 * throughput from 1, 2, 4 and 8 host threads on one and on two CPUs, and
 * the memory of the helper and of 16 executions in flight; beside them, in
 * the same run, the floors (fork+exit of a process as large as the helper,
 * with 4 KiB and with huge pages, a pipe round trip) and a fresh
 * interpreter per execution. Each line carries its ratio to what it is
 * judged against.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pysandbox.h>

#include "bench/bench.h"

#ifndef PSB_PYTHON_EXECUTABLE
#define PSB_PYTHON_EXECUTABLE "/usr/bin/python3.11"
#endif

#define FLOOR_N 200
#define PIPE_N 2000
#define IN_FLIGHT 16
#define TRIVIAL (&bench_workloads[0])
#define PANDAS (&bench_workloads[2])

/* What a run measured that later lines compare with. */
struct speed {
    bench_state *st;
    double huge_floor_ms;     /* fork+exit p50 on huge pages */
    double sub_ms[2];         /* fresh interpreter p50: trivial, pandas */
    long helper_pid;          /* the warm helper (the forking process) */
    long idle_tree_pss_kib;   /* the helper and its spares, nothing running */
    long flight_tree_pss_kib; /* the same with IN_FLIGHT executions running */
    size_t flight_procs;      /* processes counted then */
};

void bench_speed_line(bench_state *st, const char *what, const char *how, const bench_row *r,
                      const char *vs) {
    json_t *o = json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:s}", "what", what, "how", how, "n",
                          (json_int_t)r->n, "p50_ms", r->p50_ms, "p90_ms", r->p90_ms, "p99_ms",
                          r->p99_ms, "per_s", r->throughput_per_s, "vs", vs);
    if (o != NULL)
        json_array_append_new(st->speed_rows, o);
    fprintf(stderr, "pysandbox-bench: speed: %s, %s: p50 %.3f ms, %.1f/s; %s\n", what, how,
            r->p50_ms, r->throughput_per_s, vs);
}

static void add_line(struct speed *sp, const char *what, const char *how, const bench_row *r,
                     const char *vs) {
    bench_speed_line(sp->st, what, how, r, vs);
}

/* The first two CPUs this process may use in *two, the first in *one; the count (0..2). */
static int pick_cpus(cpu_set_t *one, cpu_set_t *two) {
    cpu_set_t all;
    int found = 0;
    CPU_ZERO(one);
    CPU_ZERO(two);
    if (sched_getaffinity(0, sizeof all, &all) != 0)
        return 0;
    for (size_t c = 0; c < CPU_SETSIZE && found < 2; c++) {
        if (!CPU_ISSET(c, &all))
            continue;
        if (found == 0)
            CPU_SET(c, one);
        CPU_SET(c, two);
        found++;
    }
    return found;
}

/* A warm sandbox (every execution forks from the preloaded helper) on `cpus`. */
static psb_sandbox *pinned_sandbox(const bench_state *st, const cpu_set_t *cpus) {
    psb_error err = {.code = PSB_OK};
    psb_sandbox *sb = NULL;
    psb_config *c = psb_config_new(&err);
    cpu_set_t saved;
    /* The helper inherits the affinity of the thread that starts it. */
    if (c == NULL || sched_getaffinity(0, sizeof saved, &saved) != 0 ||
        sched_setaffinity(0, sizeof *cpus, cpus) != 0)
        goto out;
    if (psb_config_set_early_start(c, 0, &err) != PSB_OK ||
        (st->helper_path && psb_config_set_helper_path(c, st->helper_path, &err) != PSB_OK) ||
        psb_config_set_max_concurrency(c, IN_FLIGHT, &err) != PSB_OK ||
        psb_sandbox_new(c, &sb, &err) != PSB_OK)
        fprintf(stderr, "pysandbox-bench: speed sandbox: %s\n", err.message);
    (void)sched_setaffinity(0, sizeof saved, &saved);
out:
    psb_config_free(c);
    return sb;
}

int bench_latency_row(psb_sandbox *sb, const char *code, unsigned pause_ms, size_t n,
                      bench_row *r) {
    double *samples = calloc(n, sizeof *samples), busy = 0;
    int rc = -1;
    if (samples == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (pause_ms)
            usleep(pause_ms * 1000u);
        if (bench_exec(sb, code, "speed", &samples[i]) != 0)
            goto out;
        busy += samples[i];
    }
    r->n = n;
    r->throughput_per_s = busy > 0 ? (double)n * 1000.0 / busy : 0;
    bench_fill_percentiles(r, samples, n);
    rc = 0;
out:
    free(samples);
    return rc;
}

/* The floors; the huge-page fork floor is kept for the ratios. 0 or -1. */
static int floors(struct speed *sp) {
    double samples[PIPE_N];
    char how[64], vs[64];
    bench_row r4 = {0}, rh = {0}, rp = {0};
    long anon_kib = bench_pid_kib(sp->helper_pid, "smaps_rollup", "Anonymous:");
    if (anon_kib <= 0)
        return -1;
    size_t bytes = (size_t)anon_kib * 1024u;
    if (bench_fork_floor(bytes, 0, samples, FLOOR_N) != 0)
        return -1;
    bench_fill_percentiles(&r4, samples, FLOOR_N);
    if (bench_fork_floor(bytes, 1, samples, FLOOR_N) != 0)
        return -1;
    bench_fill_percentiles(&rh, samples, FLOOR_N);
    if (bench_pipe_floor(samples, PIPE_N) != 0)
        return -1;
    bench_fill_percentiles(&rp, samples, PIPE_N);
    r4.n = rh.n = FLOOR_N;
    rp.n = PIPE_N;
    r4.throughput_per_s = 1000.0 / r4.p50_ms;
    rh.throughput_per_s = 1000.0 / rh.p50_ms;
    rp.throughput_per_s = 1000.0 / rp.p50_ms;
    sp->huge_floor_ms = rh.p50_ms;
    snprintf(how, sizeof how, "%ld MiB touched, 4 KiB pages", anon_kib / 1024);
    snprintf(vs, sizeof vs, "%.1fx the huge-page floor", r4.p50_ms / rh.p50_ms);
    add_line(sp, "floor: fork+exit", how, &r4, vs);
    snprintf(how, sizeof how, "%ld MiB touched, MADV_HUGEPAGE", anon_kib / 1024);
    add_line(sp, "floor: fork+exit", how, &rh, "1.0x");
    add_line(sp, "floor: pipe round trip", "1 byte, two processes", &rp, "-");
    return 0;
}

/* A fresh `python3.11 -I -c CODE` per execution. 0 or -1. */
static int subprocess_row(struct speed *sp, const bench_workload *w, size_t n, double *ret_p50) {
    bench_argv argv = {0};
    double *samples = calloc(n, sizeof *samples);
    bench_row r = {0};
    int rc = -1;
    if (samples == NULL || bench_argv_push(&argv, PSB_PYTHON_EXECUTABLE) != 0 ||
        bench_argv_push(&argv, "-I") != 0 || bench_argv_push(&argv, "-c") != 0 ||
        bench_argv_push(&argv, w->code) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int status = 0;
        uint64_t rss = 0;
        if (bench_spawn_wait(&argv, sp->st->work_dir, sp->st->err_path, &samples[i], &status,
                             &rss) != 0 ||
            status != 0)
            goto out;
    }
    r.n = n;
    bench_fill_percentiles(&r, samples, n);
    r.throughput_per_s = 1000.0 / r.p50_ms;
    *ret_p50 = r.p50_ms;
    add_line(sp, w->name, "fresh python3.11 -I -c, back to back", &r, "1.0x");
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "pysandbox-bench: speed: the %s subprocess failed\n", w->name);
    bench_argv_free(&argv);
    free(samples);
    return rc;
}

/* Back to back and paced, for one workload. 0 or -1. */
static int latency_rows(struct speed *sp, psb_sandbox *sb, const bench_workload *w, int pandas) {
    size_t n = sp->st->set.n_warm;
    unsigned pause = pandas ? 50 : 20;
    double sub = sp->sub_ms[pandas];
    bench_row r = {0};
    char how[48], vs[96];
    if (bench_latency_row(sb, w->code, 0, n, &r) != 0)
        return -1;
    if (pandas)
        snprintf(vs, sizeof vs, "%.1fx faster than a fresh interpreter (goal >= 40x)",
                 sub / r.p50_ms);
    else
        snprintf(vs, sizeof vs,
                 "%.1fx the huge-page fork floor (goal <= 4x); %.1fx faster than "
                 "a fresh interpreter",
                 r.p50_ms / sp->huge_floor_ms, sub / r.p50_ms);
    add_line(sp, w->name, "back to back", &r, vs);
    if (bench_latency_row(sb, w->code, pause, n, &r) != 0)
        return -1;
    snprintf(how, sizeof how, "%u ms between requests", pause);
    snprintf(vs, sizeof vs, "%.1fx the huge-page fork floor%s", r.p50_ms / sp->huge_floor_ms,
             pandas ? "" : " (goal: p50 <= 1 ms)");
    add_line(sp, w->name, how, &r, vs);
    return 0;
}

/* Throughput from 1, 2, 4 and 8 host threads on a sandbox pinned to `cores` CPUs. 0 or -1. */
static int throughput_rows(struct speed *sp, psb_sandbox *sb, int cores) {
    static const size_t threads[] = {1, 2, 4, 8};
    size_t total = sp->st->set.n_threaded < 8 ? 8 : sp->st->set.n_threaded;
    double *samples = calloc(total, sizeof *samples);
    int rc = -1;
    for (size_t i = 0; samples != NULL && i < sizeof threads / sizeof threads[0]; i++) {
        bench_threads t = {.sandbox = sb,
                           .code = TRIVIAL->code,
                           .label = "speed throughput",
                           .threads = threads[i],
                           .total = total};
        bench_row r = {0};
        double wall = 0;
        uint64_t rss = 0;
        char how[48], vs[96];
        if (bench_run_threads(&t, samples, &wall, &rss) != 0)
            goto out;
        r.n = t.total;
        r.throughput_per_s = (double)t.total * 1000.0 / wall;
        bench_fill_percentiles(&r, samples, t.total);
        double floor_rate = cores * 1000.0 / sp->huge_floor_ms;
        snprintf(how, sizeof how, "%d CPU%s, %zu host thread%s", cores, cores > 1 ? "s" : "",
                 threads[i], threads[i] > 1 ? "s" : "");
        snprintf(vs, sizeof vs, "%.1f%% of the huge-page floor's %.0f/s%s",
                 100.0 * r.throughput_per_s / floor_rate, floor_rate,
                 cores == 2 && threads[i] == 2 ? " (goal >= 20%)" : "");
        add_line(sp, "throughput", how, &r, vs);
    }
    rc = samples != NULL ? 0 : -1;
out:
    free(samples);
    return rc;
}

/* Called once the in-flight executions run: lets them start, then counts their PSS. */
static void measure_in_flight(void *arg) {
    struct speed *sp = arg;
    struct timespec settle = {.tv_sec = 1, .tv_nsec = 500 * 1000000L};
    while (nanosleep(&settle, &settle) != 0 && errno == EINTR) {
    }
    sp->flight_tree_pss_kib = bench_tree_pss_kib(sp->helper_pid, &sp->flight_procs);
}

/* The helper's PSS, and what IN_FLIGHT pandas executions add while they all run. 0 or -1. */
static int memory_rows(struct speed *sp, psb_sandbox *sb) {
    char code[1024], how[64], vs[128];
    double samples[IN_FLIGHT], wall = 0;
    uint64_t rss = 0;
    size_t idle_procs = 0;
    snprintf(code, sizeof code, "%simport time\ntime.sleep(3)\n", PANDAS->code);
    long helper = bench_pid_kib(sp->helper_pid, "smaps_rollup", "Pss:");
    sp->idle_tree_pss_kib = bench_tree_pss_kib(sp->helper_pid, &idle_procs);
    bench_threads t = {.sandbox = sb,
                       .code = code,
                       .label = "speed memory",
                       .threads = IN_FLIGHT,
                       .total = IN_FLIGHT,
                       .during = measure_in_flight,
                       .during_arg = sp};
    if (helper < 0 || sp->idle_tree_pss_kib < 0 ||
        bench_run_threads(&t, samples, &wall, &rss) != 0 || sp->flight_tree_pss_kib < 0)
        return -1;
    double added_mib = (double)(sp->flight_tree_pss_kib - sp->idle_tree_pss_kib) / 1024.0;
    bench_row r = {.n = IN_FLIGHT};
    snprintf(how, sizeof how, "helper PSS %.1f MiB; %zu processes idle", (double)helper / 1024.0,
             idle_procs);
    snprintf(vs, sizeof vs,
             "%d in flight (%zu processes) add %.1f MiB, %.1f MiB each "
             "(goal <= 1536 MiB)",
             IN_FLIGHT, sp->flight_procs, added_mib, added_mib / IN_FLIGHT);
    add_line(sp, "memory: pandas, then sleep(3)", how, &r, vs);
    json_object_set_new(sp->st->speed_memory, "helper_pss_kib", json_integer(helper));
    json_object_set_new(sp->st->speed_memory, "idle_tree_pss_kib",
                        json_integer(sp->idle_tree_pss_kib));
    json_object_set_new(sp->st->speed_memory, "in_flight", json_integer(IN_FLIGHT));
    json_object_set_new(sp->st->speed_memory, "in_flight_tree_pss_kib",
                        json_integer(sp->flight_tree_pss_kib));
    return 0;
}

/* Everything measured on the 2-CPU sandbox. 0 or -1. */
static int two_cpu_rows(struct speed *sp, psb_sandbox *sb) {
    double ms = 0;
    bench_proc_mem mem;
    if (bench_exec(sb, PANDAS->code, "speed warm-up", &ms) != 0 ||
        bench_child_mem("pysandbox-helpe", &mem) != 0)
        return -1;
    sp->helper_pid = mem.pid;
    if (floors(sp) != 0 || subprocess_row(sp, TRIVIAL, sp->st->set.n_other, &sp->sub_ms[0]) != 0 ||
        subprocess_row(sp, PANDAS, sp->st->set.n_other, &sp->sub_ms[1]) != 0 ||
        latency_rows(sp, sb, TRIVIAL, 0) != 0 || latency_rows(sp, sb, PANDAS, 1) != 0 ||
        throughput_rows(sp, sb, 2) != 0)
        return -1;
    return memory_rows(sp, sb);
}

int bench_run_speed(bench_state *st) {
    struct speed sp = {.st = st};
    cpu_set_t one, two;
    double ms = 0;
    int rc = -1;
    if (pick_cpus(&one, &two) < 2) {
        bench_add_note(st, "speed rows: fewer than two CPUs to pin the sandbox to; skipped");
        return 0;
    }
    fprintf(stderr, "pysandbox-bench: speed rows on a sandbox pinned to 2 CPUs\n");
    psb_sandbox *sb = pinned_sandbox(st, &two);
    if (sb == NULL || two_cpu_rows(&sp, sb) != 0)
        goto out;
    psb_sandbox_free(sb);
    fprintf(stderr, "pysandbox-bench: speed rows on a sandbox pinned to 1 CPU\n");
    sb = pinned_sandbox(st, &one);
    if (sb == NULL || bench_exec(sb, TRIVIAL->code, "speed warm-up", &ms) != 0 ||
        throughput_rows(&sp, sb, 1) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "pysandbox-bench: the speed rows failed\n");
    psb_sandbox_free(sb);
    return rc;
}

void bench_print_speed(FILE *out, const json_t *lines) {
    size_t i;
    json_t *l;
    if (json_array_size(lines) == 0)
        return;
    fprintf(out, "\n%-30s %-40s %5s %9s %9s %9s %9s  %s\n", "speed", "how", "n", "p50 ms", "p90 ms",
            "p99 ms", "per s", "vs");
    json_array_foreach(lines, i, l) {
        fprintf(out, "%-30s %-40s %5lld %9.3f %9.3f %9.3f %9.1f  %s\n",
                json_string_value(json_object_get(l, "what")),
                json_string_value(json_object_get(l, "how")),
                (long long)json_integer_value(json_object_get(l, "n")),
                json_real_value(json_object_get(l, "p50_ms")),
                json_real_value(json_object_get(l, "p90_ms")),
                json_real_value(json_object_get(l, "p99_ms")),
                json_real_value(json_object_get(l, "per_s")),
                json_string_value(json_object_get(l, "vs")));
    }
}
