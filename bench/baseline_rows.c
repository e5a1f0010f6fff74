/*
 * bench/baseline_rows.c - the rows of pysandbox-bench that run a process per
 * execution: what a user would do instead of pysandbox (a fresh python3.11
 * -I -c CODE, and the same inside bwrap --unshare-all where bwrap works),
 * and the one-shot CLI, `pysandbox run FILE`, alone (a helper start each
 * time) and with --connect to a `pysandbox serve` started for these rows.
 */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

#ifndef PSB_PYTHON_EXECUTABLE
#define PSB_PYTHON_EXECUTABLE "/usr/bin/python3.11"
#endif

/* pysandbox run [--connect unix:SOCK] FILE, with the code written to FILE. */
static int cli_argv(const bench_state *st, bench_method m, const char *code, bench_argv *argv) {
    char path[192], target[192];
    snprintf(path, sizeof path, "%s/code.py", st->work_dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(code, f) < 0 || fclose(f) != 0)
        return -1;
    snprintf(target, sizeof target, "unix:%s", st->server_sock);
    if (bench_argv_push(argv, st->cli_path) != 0 || bench_argv_push(argv, "run") != 0)
        return -1;
    if (m == BENCH_M_CLI_CONNECT &&
        (bench_argv_push(argv, "--connect") != 0 || bench_argv_push(argv, target) != 0))
        return -1;
    return bench_argv_push(argv, path);
}

/* Builds the argv of a baseline: [bwrap ... ] python -I -c CODE, or the CLI's. */
static int baseline_argv(const bench_state *st, bench_method m, const char *code,
                         bench_argv *argv) {
    if (m == BENCH_M_CLI || m == BENCH_M_CLI_CONNECT)
        return cli_argv(st, m, code, argv);
    static const char *const BWRAP_ARGS[] = {
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--unshare-all",
        "--die-with-parent",
        "--chdir",
        "/tmp",
    };
    if (m == BENCH_M_BWRAP) {
        if (bench_argv_push(argv, st->bwrap_path) != 0)
            return -1;
        for (size_t i = 0; i < sizeof BWRAP_ARGS / sizeof BWRAP_ARGS[0]; i++)
            if (bench_argv_push(argv, BWRAP_ARGS[i]) != 0)
                return -1;
    }
    if (bench_argv_push(argv, PSB_PYTHON_EXECUTABLE) != 0 || bench_argv_push(argv, "-I") != 0 ||
        bench_argv_push(argv, "-c") != 0 || bench_argv_push(argv, code) != 0)
        return -1;
    return 0;
}

/*
 * Runs a baseline once in the scratch dir and checks it exited 0. Returns 0
 * with wall time and peak RSS, or -1 after printing its stderr.
 */
static int spawn_once(const bench_state *st, const bench_argv *argv, const char *label,
                      double *ret_ms, uint64_t *ret_rss_kib) {
    int wstatus = 0;
    if (bench_spawn_wait(argv, st->work_dir, st->err_path, ret_ms, &wstatus, ret_rss_kib) != 0)
        return -1;
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        return 0;
    if (WIFEXITED(wstatus))
        fprintf(stderr, "pysandbox-bench: %s failed: exit status %d\n", label,
                WEXITSTATUS(wstatus));
    else
        fprintf(stderr, "pysandbox-bench: %s failed: killed by signal %d\n", label,
                WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
    bench_print_file_tail(st->err_path, 4096);
    return -1;
}

/* One (workload, baseline) row: warm-up, then n timed executions. */
static int baseline_row(bench_state *st, const bench_workload *w, bench_method m, size_t n) {
    bench_argv argv = {0};
    double *samples = calloc(n, sizeof *samples);
    bench_row row = bench_row_for(w, m);
    char label[96];
    uint64_t rss = 0;
    double ms = 0;
    int rc = -1;

    snprintf(label, sizeof label, "%s/%s", w->name, bench_method_names[m]);
    if (samples == NULL || baseline_argv(st, m, w->code, &argv) != 0) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    if (spawn_once(st, &argv, label, &ms, &rss) != 0)
        goto out;
    double loop_start = bench_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (spawn_once(st, &argv, label, &samples[i], &rss) != 0)
            goto out;
        if (rss > row.peak_rss_kib)
            row.peak_rss_kib = rss;
    }
    double loop_ms = bench_now_ms() - loop_start;
    row.n = n;
    row.throughput_per_s = loop_ms > 0 ? (double)n * 1000.0 / loop_ms : 0;
    /*
     * bwrap's own init reaps Python inside the pid namespace and bwrap does
     * not wait for that init before exiting, so wait4 on bwrap never sees
     * Python's memory: report nothing rather than bwrap's ~2 MiB.
     */
    row.peak_rss_known = m != BENCH_M_BWRAP;
    bench_fill_percentiles(&row, samples, n);
    if (bench_rows_push(&st->rows, &row) != 0) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    bench_report_progress(&row);
    rc = 0;
out:
    bench_argv_free(&argv);
    free(samples);
    return rc;
}

/*
 * Finds bwrap and checks once that it can run Python with the benchmark's
 * flags here (it cannot inside some containers). Sets st->bwrap_path or
 * adds a note saying why the method is skipped.
 */
static void probe_bwrap(bench_state *st) {
    bench_argv argv = {0};
    double ms = 0;
    uint64_t rss = 0;
    int wstatus = 0;

    st->bwrap_path = bench_which("bwrap");
    if (st->bwrap_path == NULL) {
        bench_add_note(st, "bwrap: not found on PATH; method skipped");
        return;
    }
    if (baseline_argv(st, BENCH_M_BWRAP, "pass", &argv) != 0 ||
        bench_spawn_wait(&argv, st->work_dir, st->err_path, &ms, &wstatus, &rss) != 0 ||
        !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        char note[768] = "bwrap: does not work here; method skipped";
        FILE *f = fopen(st->err_path, "r");
        char line[512];
        if (f != NULL && fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(note, sizeof note, "bwrap: does not work here (%s); method skipped", line);
        }
        if (f != NULL)
            fclose(f);
        bench_add_note(st, note);
        free(st->bwrap_path);
        st->bwrap_path = NULL;
    }
    bench_argv_free(&argv);
}

/* Starts `pysandbox serve --listen` for the connect rows; 0 once its socket exists. */
static int start_server(bench_state *st) {
    extern char **environ;
    char listen[192];
    snprintf(st->server_sock, sizeof st->server_sock, "%s/serve.sock", st->tmp_root);
    snprintf(listen, sizeof listen, "unix:%s", st->server_sock);
    bench_argv args = {0};
    if (bench_argv_push(&args, st->cli_path) != 0 || bench_argv_push(&args, "serve") != 0 ||
        bench_argv_push(&args, "--listen") != 0 || bench_argv_push(&args, listen) != 0) {
        bench_argv_free(&args);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    pid_t pid;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int err = posix_spawn(&pid, st->cli_path, &fa, NULL, args.v, environ);
    posix_spawn_file_actions_destroy(&fa);
    bench_argv_free(&args);
    if (err != 0)
        return -1;
    st->server_pid = pid;
    struct stat sb;
    for (int i = 0; i < 1200 && stat(st->server_sock, &sb) != 0; i++)
        usleep(10000);
    return stat(st->server_sock, &sb) == 0 ? 0 : -1;
}

static void stop_server(bench_state *st) {
    if (st->server_pid > 0) {
        kill((pid_t)st->server_pid, SIGTERM);
        waitpid((pid_t)st->server_pid, NULL, 0);
    }
    st->server_pid = 0;
}

/* Whether method m can run here (bwrap may not; the CLI rows need the CLI). */
static int available(bench_state *st, bench_method m) {
    if (!bench_want_method(&st->set, m))
        return 0;
    if (m == BENCH_M_BWRAP)
        return st->bwrap_path != NULL;
    if (m == BENCH_M_CLI || m == BENCH_M_CLI_CONNECT)
        return st->cli_path != NULL;
    return 1;
}

int bench_run_baselines(bench_state *st) {
    static const bench_method methods[] = {BENCH_M_SUBPROCESS, BENCH_M_BWRAP, BENCH_M_CLI,
                                           BENCH_M_CLI_CONNECT};
    int rc = 0;

    if (bench_want_method(&st->set, BENCH_M_BWRAP))
        probe_bwrap(st);
    for (size_t k = 0; k < sizeof methods / sizeof methods[0] && rc == 0; k++) {
        bench_method m = methods[k];
        if (!available(st, m))
            continue;
        if (m == BENCH_M_CLI_CONNECT)
            bench_add_note(st, "pysandbox-run-connect: peak RSS is the CLI's own; the code runs "
                               "in a child of the server's helper");
        if (m == BENCH_M_CLI_CONNECT && start_server(st) != 0) {
            fprintf(stderr, "pysandbox-bench: cannot start pysandbox serve\n");
            rc = -1;
            break;
        }
        /* A helper start per run: fewer of them, or the bench takes minutes. */
        size_t n = m == BENCH_M_CLI && st->set.n_other > 8 ? 8 : st->set.n_other;
        for (size_t i = 0; i < BENCH_N_WORKLOADS && rc == 0; i++) {
            const bench_workload *w = &bench_workloads[i];
            if (bench_want_workload(&st->set, w) && !w->warm_only)
                rc = baseline_row(st, w, m, n);
        }
    }
    stop_server(st);
    return rc;
}
