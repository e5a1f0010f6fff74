/*
 * bench/sandbox_rows.c - the rows of pysandbox-bench measured through
 * pysandbox itself: one sandbox per mode (warm, cold), a row per workload
 * from one host thread, a 2-thread row on the same sandbox, and the
 * helper's memory once it is up.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pysandbox.h>

#include "bench/bench.h"

/* Prints why an execution failed: the outcome's kind, type, message, traceback. */
static void print_failure(const char *label, const psb_outcome *outcome) {
    const char *type = psb_outcome_error_type(outcome);
    const char *msg = psb_outcome_error_message(outcome);
    const char *tb = psb_outcome_error_traceback(outcome);
    size_t err_len = 0;
    const char *err_out = psb_outcome_stderr(outcome, &err_len, NULL);
    fprintf(stderr, "pysandbox-bench: %s failed: %s", label,
            psb_error_kind_name(psb_outcome_error_kind(outcome)));
    if (type != NULL)
        fprintf(stderr, ": %s", type);
    if (msg != NULL)
        fprintf(stderr, ": %s", msg);
    fputc('\n', stderr);
    if (tb != NULL)
        fprintf(stderr, "%s\n", tb);
    if (err_len > 0)
        fprintf(stderr, "stderr:\n%.*s\n", (int)(err_len > 4096 ? 4096 : err_len), err_out);
}

/*
 * Runs code once through psb_exec (or as a cell of session, when not NULL)
 * and checks the outcome is ok with a result. Returns 0 with the call's
 * wall time and the child's peak RSS, or -1 after printing why (label
 * names the row).
 */
static int run_once(psb_sandbox *sandbox, psb_session *session, const char *code,
                    const psb_exec_options *options, const char *label, double *ret_ms,
                    uint64_t *ret_rss_kib) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *outcome = NULL;
    psb_stats stats;
    int rc = -1;

    double start = bench_now_ms();
    psb_status status = session
                            ? psb_session_exec(session, code, strlen(code), options, &outcome, &err)
                            : psb_exec(sandbox, code, strlen(code), options, &outcome, &err);
    double elapsed = bench_now_ms() - start;
    if (status != PSB_OK) {
        fprintf(stderr, "pysandbox-bench: %s: psb_exec: %s: %s\n", label, psb_status_str(status),
                err.message);
        goto out;
    }
    if (!psb_outcome_ok(outcome)) {
        print_failure(label, outcome);
        goto out;
    }
    if (strcmp(psb_outcome_result_json(outcome), "null") == 0) {
        fprintf(stderr, "pysandbox-bench: %s: the execution set no result\n", label);
        goto out;
    }
    psb_outcome_stats(outcome, &stats);
    *ret_ms = elapsed;
    *ret_rss_kib = stats.peak_rss_kib;
    rc = 0;
out:
    psb_outcome_free(outcome);
    return rc;
}

static int exec_once(psb_sandbox *sandbox, const char *code, const psb_exec_options *options,
                     const char *label, double *ret_ms, uint64_t *ret_rss_kib) {
    return run_once(sandbox, NULL, code, options, label, ret_ms, ret_rss_kib);
}

int bench_exec(psb_sandbox *sandbox, const char *code, const char *label, double *ret_ms) {
    uint64_t rss = 0;
    return exec_once(sandbox, code, NULL, label, ret_ms, &rss);
}

/*
 * One (workload, pysandbox method) row: a warm-up execution, then n timed
 * ones; for BENCH_M_SESSION all of them cells of one session. Returns 0
 * with the row appended, or -1 after printing an error.
 */
static int psb_row(bench_state *st, psb_sandbox *sandbox, const bench_workload *w, bench_method m,
                   size_t n) {
    psb_error err = {.code = PSB_OK};
    psb_exec_options *options = NULL;
    psb_session *session = NULL;
    double *samples = calloc(n, sizeof *samples);
    bench_row row = bench_row_for(w, m);
    char label[96];
    uint64_t rss = 0;
    double ms = 0;
    int rc = -1;

    snprintf(label, sizeof label, "%s/%s", w->name, bench_method_names[m]);
    if (samples == NULL || (options = psb_exec_options_new(&err)) == NULL) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    if (w->result_limit_bytes > 0 &&
        psb_exec_options_set_result_limit_bytes(options, w->result_limit_bytes, &err) != PSB_OK) {
        fprintf(stderr, "pysandbox-bench: result limit: %s\n", err.message);
        goto out;
    }
    if (m == BENCH_M_SESSION && psb_session_new(sandbox, NULL, &session, &err) != PSB_OK) {
        fprintf(stderr, "pysandbox-bench: %s: psb_session_new: %s\n", label, err.message);
        goto out;
    }
    /* A session's cell takes only a cell's options: the result cap is one. */
    if (run_once(sandbox, session, w->code, options, label, &ms, &rss) != 0)
        goto out;
    double loop_start = bench_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (run_once(sandbox, session, w->code, options, label, &samples[i], &rss) != 0)
            goto out;
        if (rss > row.peak_rss_kib)
            row.peak_rss_kib = rss;
    }
    double loop_ms = bench_now_ms() - loop_start;
    row.n = n;
    row.throughput_per_s = loop_ms > 0 ? (double)n * 1000.0 / loop_ms : 0;
    bench_fill_percentiles(&row, samples, n);
    if (bench_rows_push(&st->rows, &row) != 0) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    bench_report_progress(&row);
    rc = 0;
out:
    psb_session_free(session);
    psb_exec_options_free(options);
    free(samples);
    return rc;
}

/* One host thread of a threaded run. */
typedef struct thread_job {
    psb_sandbox *sandbox;  /* shared by the threads */
    const char *code;      /* what to run */
    const char *label;     /* row name for errors */
    double *samples;       /* n wall times, ms (a slice of the run's array) */
    size_t n;              /* executions of this thread */
    uint64_t peak_rss_kib; /* largest child peak RSS seen */
    int failed;            /* 1 after a failed execution (printed) */
} thread_job;

/* Thread body: n executions, stopping at the first failure. */
static void *thread_main(void *arg) {
    thread_job *job = arg;
    for (size_t i = 0; i < job->n; i++) {
        uint64_t rss = 0;
        if (exec_once(job->sandbox, job->code, NULL, job->label, &job->samples[i], &rss) != 0) {
            job->failed = 1;
            break;
        }
        if (rss > job->peak_rss_kib)
            job->peak_rss_kib = rss;
    }
    return NULL;
}

int bench_run_threads(const bench_threads *t, double *samples, double *ret_wall_ms,
                      uint64_t *ret_peak_rss_kib) {
    thread_job jobs[BENCH_MAX_THREADS];
    pthread_t threads[BENCH_MAX_THREADS];
    size_t started = 0, nt = t->threads;
    int failed = 0;
    if (nt < 1 || nt > BENCH_MAX_THREADS || t->total < nt)
        return -1;
    for (size_t i = 0, first = 0; i < nt; i++) {
        size_t n = t->total / nt + (i < t->total % nt ? 1 : 0);
        jobs[i] = (thread_job){.sandbox = t->sandbox,
                               .code = t->code,
                               .label = t->label,
                               .samples = samples + first,
                               .n = n};
        first += n;
    }
    double start = bench_now_ms();
    for (; started < nt; started++) {
        int e = pthread_create(&threads[started], NULL, thread_main, &jobs[started]);
        if (e != 0) {
            fprintf(stderr, "pysandbox-bench: pthread_create: %s\n", strerror(e));
            failed = 1;
            break;
        }
    }
    if (!failed && t->during != NULL)
        t->during(t->during_arg);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    *ret_wall_ms = bench_now_ms() - start;
    *ret_peak_rss_kib = 0;
    for (size_t i = 0; i < started; i++) {
        failed |= jobs[i].failed;
        if (jobs[i].peak_rss_kib > *ret_peak_rss_kib)
            *ret_peak_rss_kib = jobs[i].peak_rss_kib;
    }
    return failed ? -1 : 0;
}

/*
 * The 2-thread row of bench_method m: `total` executions of the trivial workload
 * split over two host threads on one sandbox (after the warm-up the
 * workload rows already did). Throughput is total / wall time of the whole.
 */
static int threaded_row(bench_state *st, psb_sandbox *sandbox, bench_method m, size_t total) {
    const bench_workload *w = BENCH_THREAD_WORKLOAD;
    double *samples = calloc(total, sizeof *samples);
    bench_row row = bench_row_for(w, m);
    bench_threads t = {.sandbox = sandbox,
                       .code = w->code,
                       .label = bench_method_names[m],
                       .threads = 2,
                       .total = total};
    double wall_ms = 0;
    int rc = -1;

    if (samples == NULL) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    if (bench_run_threads(&t, samples, &wall_ms, &row.peak_rss_kib) != 0)
        goto out;
    row.n = total;
    row.throughput_per_s = wall_ms > 0 ? (double)total * 1000.0 / wall_ms : 0;
    bench_fill_percentiles(&row, samples, total);
    if (bench_rows_push(&st->rows, &row) != 0) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    bench_report_progress(&row);
    rc = 0;
out:
    free(samples);
    return rc;
}

/* Records the helper's memory under `key` of st->helper_mem (best effort). */
static void record_helper_mem(bench_state *st, const char *key) {
    bench_proc_mem mem;
    if (bench_child_mem("pysandbox-helpe", &mem) != 0) {
        char note[128];
        snprintf(note, sizeof note, "%s: no helper process found among our children", key);
        bench_add_note(st, note);
        return;
    }
    json_object_set_new(st->helper_mem, key,
                        json_pack("{s:I, s:I, s:I, s:I}", "pid", (json_int_t)mem.pid, "vm_rss_kib",
                                  (json_int_t)mem.vm_rss_kib, "vm_hwm_kib",
                                  (json_int_t)mem.vm_hwm_kib, "pss_kib", (json_int_t)mem.pss_kib));
}

int bench_run_pysandbox(bench_state *st, psb_mode mode) {
    bench_method single = mode == PSB_MODE_WARM ? BENCH_M_WARM : BENCH_M_COLD;
    bench_method threaded = mode == PSB_MODE_WARM ? BENCH_M_WARM_2T : BENCH_M_COLD_2T;
    const char *key = mode == PSB_MODE_WARM ? "warm" : "cold";
    int do_single = bench_want_method(&st->set, single);
    int do_threaded = bench_want_method(&st->set, threaded) &&
                      bench_want_workload(&st->set, BENCH_THREAD_WORKLOAD);
    psb_error err = {.code = PSB_OK};
    psb_config *config = NULL;
    psb_sandbox *sandbox = NULL;
    double ms = 0;
    uint64_t rss = 0;
    int rc = -1, any = 0;

    for (size_t i = 0; i < BENCH_N_WORKLOADS && do_single; i++)
        if (bench_want_workload(&st->set, &bench_workloads[i]) &&
            (!bench_workloads[i].warm_only || mode == PSB_MODE_WARM))
            any = 1;
    int do_session = mode == PSB_MODE_WARM && bench_want_method(&st->set, BENCH_M_SESSION);
    if (!any && !do_threaded && !do_session)
        return 0;

    config = psb_config_new(&err);
    if (config == NULL)
        goto fail;
    if (psb_config_set_mode(config, mode, &err) != PSB_OK)
        goto fail;
    if (st->helper_path != NULL &&
        psb_config_set_helper_path(config, st->helper_path, &err) != PSB_OK)
        goto fail;
    fprintf(stderr, "pysandbox-bench: starting a %s sandbox\n", key);
    double start = bench_now_ms();
    if (psb_sandbox_new(config, &sandbox, &err) != PSB_OK)
        goto fail;
    double startup_ms = bench_now_ms() - start;
    if (exec_once(sandbox, BENCH_THREAD_WORKLOAD->code, NULL, key, &ms, &rss) != 0)
        goto out;
    json_object_set_new(st->helper_mem, key, json_object());
    record_helper_mem(st, key);
    json_t *entry = json_object_get(st->helper_mem, key);
    if (entry != NULL)
        json_object_set_new(entry, "sandbox_start_ms", json_real((double)(long)startup_ms));

    for (size_t i = 0; i < BENCH_N_WORKLOADS && do_single; i++) {
        const bench_workload *w = &bench_workloads[i];
        if (!bench_want_workload(&st->set, w) || (w->warm_only && mode != PSB_MODE_WARM))
            continue;
        if (psb_row(st, sandbox, w, single,
                    mode == PSB_MODE_WARM ? st->set.n_warm : st->set.n_other) != 0)
            goto out;
    }
    if (do_threaded && threaded_row(st, sandbox, threaded, st->set.n_threaded) != 0)
        goto out;
    /* The same code as cells of one session: what a cell costs beyond a warm execution. */
    for (size_t i = 0; i < BENCH_N_WORKLOADS && do_session; i++) {
        const bench_workload *w = &bench_workloads[i];
        if (bench_want_workload(&st->set, w) &&
            psb_row(st, sandbox, w, BENCH_M_SESSION, st->set.n_warm) != 0)
            goto out;
    }
    if (do_session &&
        bench_snapshot_rows(st, sandbox, st->set.n_warm < 20 ? st->set.n_warm : 20) != 0)
        goto out;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "pysandbox-bench: %s sandbox: %s: %s\n", key, psb_status_str(err.code),
            err.message);
out:
    psb_sandbox_free(sandbox);
    psb_config_free(config);
    return rc;
}
