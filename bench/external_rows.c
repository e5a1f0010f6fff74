/*
 * bench/external_rows.c - the external-interpreter engine in the speed
 * rows: `result = 1 + 1` and the pandas groupby run by Debian's python3.11
 * through psb_config_set_python(), beside the warm engine and a fresh
 * `python3.11 -I -c` for the same code, in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <pysandbox.h>

#include "bench/bench.h"

#ifndef PSB_PYTHON_EXECUTABLE
#define PSB_PYTHON_EXECUTABLE "/usr/bin/python3.11"
#endif

/* A sandbox on the external engine (python) or the warm one (NULL). NULL on failure. */
static psb_sandbox *engine_sandbox(const bench_state *st, const char *python) {
    psb_error err = {.code = PSB_OK};
    psb_sandbox *sb = NULL;
    psb_config *c = psb_config_new(&err);
    if (c == NULL || (python && psb_config_set_python(c, python, &err) != PSB_OK) ||
        psb_config_set_early_start(c, 0, &err) != PSB_OK ||
        (st->helper_path && psb_config_set_helper_path(c, st->helper_path, &err) != PSB_OK) ||
        psb_sandbox_new(c, &sb, &err) != PSB_OK)
        fprintf(stderr, "pysandbox-bench: engine sandbox: %s\n", err.message);
    psb_config_free(c);
    return sb;
}

/* n executions of code on sb (after one more); the row in *r. 0 or -1. */
static int engine_row(psb_sandbox *sb, const char *code, size_t n, bench_row *r) {
    double ms = 0;
    return bench_exec(sb, code, "engine", &ms) == 0 ? bench_latency_row(sb, code, 0, n, r) : -1;
}

/* A fresh `python3.11 -I -c code` per execution; the row in *r. 0 or -1. */
static int fresh_row(const bench_state *st, const char *code, size_t n, bench_row *r) {
    bench_argv argv = {0};
    double *samples = calloc(n, sizeof *samples);
    int rc = -1;
    if (samples == NULL || bench_argv_push(&argv, PSB_PYTHON_EXECUTABLE) != 0 ||
        bench_argv_push(&argv, "-I") != 0 || bench_argv_push(&argv, "-c") != 0 ||
        bench_argv_push(&argv, code) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int status = 0;
        uint64_t rss = 0;
        if (bench_spawn_wait(&argv, st->work_dir, st->err_path, &samples[i], &status, &rss) != 0 ||
            status != 0)
            goto out;
    }
    r->n = n;
    bench_fill_percentiles(r, samples, n);
    r->throughput_per_s = 1000.0 / r->p50_ms;
    rc = 0;
out:
    bench_argv_free(&argv);
    free(samples);
    return rc;
}

int bench_run_external(bench_state *st) {
    static const int workloads[] = {0, 2}; /* trivial, pandas-groupby */
    size_t n = st->set.quick ? 5 : 20;
    int rc = -1;
    if (access(PSB_PYTHON_EXECUTABLE, X_OK) != 0) {
        bench_add_note(st, "external rows: no " PSB_PYTHON_EXECUTABLE "; skipped");
        return 0;
    }
    fprintf(stderr, "pysandbox-bench: external-interpreter rows (%s)\n", PSB_PYTHON_EXECUTABLE);
    psb_sandbox *ext = engine_sandbox(st, PSB_PYTHON_EXECUTABLE), *warm = engine_sandbox(st, NULL);
    for (size_t k = 0; ext && warm && k < 2; k++) {
        const bench_workload *w = &bench_workloads[workloads[k]];
        bench_row re = {0}, rw = {0}, rf = {0};
        char vs[96];
        if (engine_row(ext, w->code, n, &re) != 0 || engine_row(warm, w->code, n, &rw) != 0 ||
            fresh_row(st, w->code, n, &rf) != 0)
            goto out;
        snprintf(vs, sizeof vs, "%.2fx a fresh interpreter's time; %.1fx the warm engine's",
                 re.p50_ms / rf.p50_ms, re.p50_ms / rw.p50_ms);
        bench_speed_line(st, w->name, "external engine (python3.11), back to back", &re, vs);
        bench_speed_line(st, w->name, "same run: warm engine, back to back", &rw, "1.0x");
        bench_speed_line(st, w->name, "same run: fresh python3.11 -I -c", &rf, "-");
    }
    rc = ext && warm ? 0 : -1;
out:
    if (rc != 0)
        fprintf(stderr, "pysandbox-bench: the external rows failed\n");
    psb_sandbox_free(ext);
    psb_sandbox_free(warm);
    return rc;
}
