/*
 * bench/start_rows.c - how long a sandbox takes to start: psb_sandbox_new,
 * then a first `result = 1 + 1` and (on another sandbox) a first pandas
 * execution, each timed from psb_sandbox_new; warm with early start, warm
 * waiting for the preload, and cold; with the start-up cache kept and
 * fresh. Beside them two floors run as plain subprocesses: an interpreter
 * that does nothing, and one that imports the preload set alone.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pysandbox.h>

#include "bench/bench.h"

#ifndef PSB_PYTHON_EXECUTABLE
#define PSB_PYTHON_EXECUTABLE "/usr/bin/python3.11"
#endif

static const char *const pandas_code = "import pandas as pd\n"
                                       "df = pd.DataFrame({'k': ['a', 'b', 'a'], 'v': [1, 2, 3]})\n"
                                       "result = df.groupby('k')['v'].sum().to_dict()\n";

/* One way of starting a sandbox. */
typedef struct start_config {
    const char *name; /* the method column */
    psb_mode mode;    /* warm or cold */
    int early;        /* psb_config_set_early_start() */
    int fresh_cache;  /* a new, empty cache dir per start */
} start_config;

static const start_config CONFIGS[] = {
    {"warm-early/cache-kept", PSB_MODE_WARM, 1, 0}, {"warm-early/cache-fresh", PSB_MODE_WARM, 1, 1},
    {"warm-wait/cache-kept", PSB_MODE_WARM, 0, 0},  {"warm-wait/cache-fresh", PSB_MODE_WARM, 0, 1},
    {"cold/cache-kept", PSB_MODE_COLD, 1, 0},
};
#define N_CONFIGS (sizeof CONFIGS / sizeof CONFIGS[0])

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* A new cache dir children can traverse (not under /tmp: the helper has its own /tmp). */
static int make_cache(char *dir, size_t size) {
    snprintf(dir, size, "/var/tmp/psb-bench-cache-XXXXXX");
    if (mkdtemp(dir) == NULL || chmod(dir, 0755) != 0) {
        fprintf(stderr, "pysandbox-bench: cache dir: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Runs code on sb; 0 when the outcome is ok, with how it started in *ret_start. */
static int exec_ok(psb_sandbox *sb, const char *code, psb_start *ret_start) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *out = NULL;
    int rc = -1;
    if (psb_exec(sb, code, strlen(code), NULL, &out, &err) != PSB_OK) {
        fprintf(stderr, "pysandbox-bench: start: psb_exec: %s\n", err.message);
    } else if (!psb_outcome_ok(out)) {
        fprintf(stderr, "pysandbox-bench: start: %s failed: %s\n", code,
                psb_outcome_error_message(out) ? psb_outcome_error_message(out) : "?");
    } else {
        psb_stats stats;
        psb_outcome_stats(out, &stats);
        *ret_start = stats.start;
        rc = 0;
    }
    psb_outcome_free(out);
    return rc;
}

/*
 * One start: psb_sandbox_new, then code. *ret_new_ms and *ret_first_ms are
 * measured from before psb_sandbox_new. 0, or -1 after printing why.
 */
static int one_start(const bench_state *st, const start_config *c, const char *cache,
                     const char *code, double *ret_new_ms, double *ret_first_ms,
                     psb_start *ret_start) {
    psb_error err = {.code = PSB_OK};
    psb_config *config = psb_config_new(&err);
    psb_sandbox *sb = NULL;
    int rc = -1;
    if (config == NULL || psb_config_set_mode(config, c->mode, &err) != PSB_OK ||
        psb_config_set_early_start(config, c->early, &err) != PSB_OK ||
        psb_config_set_cache_dir(config, cache, &err) != PSB_OK ||
        (st->helper_path != NULL &&
         psb_config_set_helper_path(config, st->helper_path, &err) != PSB_OK))
        goto fail;
    double t0 = bench_now_ms();
    if (psb_sandbox_new(config, &sb, &err) != PSB_OK)
        goto fail;
    *ret_new_ms = bench_now_ms() - t0;
    if (exec_ok(sb, code, ret_start) != 0)
        goto out;
    *ret_first_ms = bench_now_ms() - t0;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "pysandbox-bench: start %s: %s\n", c->name, err.message);
out:
    psb_sandbox_free(sb);
    psb_config_free(config);
    return rc;
}

/* Appends a row named (workload, method) from n samples. */
static int push(bench_rows *rows, const char *workload, const char *method, double *samples,
                size_t n) {
    bench_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.workload, sizeof row.workload, "%s", workload);
    snprintf(row.method, sizeof row.method, "%s", method);
    row.n = n;
    bench_fill_percentiles(&row, samples, n);
    bench_report_progress(&row);
    return bench_rows_push(rows, &row);
}

/* The samples of one configuration. */
typedef struct start_samples {
    double *new_ms, *first_ms, *pandas_new_ms, *pandas_ms;
    size_t early; /* first executions that ran early */
} start_samples;

/* n starts of configuration c (cache: the kept dir), as three rows. 0 or -1. */
static int config_rows(bench_state *st, const start_config *c, const char *kept, size_t n,
                       start_samples *s) {
    char fresh[64];
    for (size_t i = 0; i < n; i++) {
        const char *cache = kept;
        psb_start how = PSB_START_NONE, ignored;
        for (int pandas = 0; pandas < 2; pandas++) {
            if (c->fresh_cache && make_cache(fresh, sizeof fresh) != 0)
                return -1;
            if (c->fresh_cache)
                cache = fresh;
            int rc = pandas ? one_start(st, c, cache, pandas_code, &s->pandas_new_ms[i],
                                        &s->pandas_ms[i], &ignored)
                            : one_start(st, c, cache, "result = 1 + 1", &s->new_ms[i],
                                        &s->first_ms[i], &how);
            if (c->fresh_cache)
                nftw(fresh, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
            if (rc != 0)
                return -1;
        }
        s->early += how == PSB_START_EARLY;
    }
    if (push(&st->start_rows, "sandbox_new", c->name, s->new_ms, n) != 0 ||
        push(&st->start_rows, "first 1+1", c->name, s->first_ms, n) != 0 ||
        push(&st->start_rows, "first pandas", c->name, s->pandas_ms, n) != 0)
        return -1;
    char note[160];
    snprintf(note, sizeof note, "start %s: the first 1+1 ran early in %zu of %zu starts", c->name,
             s->early, n);
    bench_add_note(st, note);
    return 0;
}

/* A floor: n runs of `python -I -c code` (matplotlib's config in mpl), as a row. */
static int floor_row(bench_state *st, const char *name, const char *code, const char *mpl, size_t n,
                     double *samples) {
    char mplenv[128];
    bench_argv argv = {0};
    int rc = -1;
    snprintf(mplenv, sizeof mplenv, "MPLCONFIGDIR=%s", mpl);
    if (bench_argv_push(&argv, "/usr/bin/env") || bench_argv_push(&argv, "MPLBACKEND=Agg") ||
        bench_argv_push(&argv, mplenv) || bench_argv_push(&argv, PSB_PYTHON_EXECUTABLE) ||
        bench_argv_push(&argv, "-I") || bench_argv_push(&argv, "-c") ||
        bench_argv_push(&argv, code))
        goto out;
    for (size_t i = 0; i <= n; i++) { /* the first primes matplotlib's font list */
        int ws = 0;
        uint64_t rss = 0;
        double ms = 0;
        if (bench_spawn_wait(&argv, st->work_dir, st->err_path, &ms, &ws, &rss) != 0 || ws != 0) {
            fprintf(stderr, "pysandbox-bench: floor %s failed\n", name);
            bench_print_file_tail(st->err_path, 2048);
            goto out;
        }
        if (i > 0)
            samples[i - 1] = ms;
    }
    rc = push(&st->start_rows, name, "floor", samples, n);
out:
    bench_argv_free(&argv);
    return rc;
}

int bench_run_start(bench_state *st) {
    size_t n = st->set.n_start;
    char kept[64] = "", mpl[160];
    start_samples s = {0};
    double *buf = calloc(4 * n, sizeof *buf);
    int rc = -1;
    if (buf == NULL || make_cache(kept, sizeof kept) != 0)
        goto out;
    snprintf(mpl, sizeof mpl, "%s/floor-mpl", st->tmp_root);
    if (mkdir(mpl, 0700) != 0 || floor_row(st, "python -c pass", "pass", mpl, n, buf) != 0 ||
        floor_row(st, "preload alone",
                  "import numpy, pandas, matplotlib, matplotlib.pyplot as plt\n"
                  "plt.subplots()[0].savefig(__import__('io').BytesIO(), format='png')\n",
                  mpl, n, buf) != 0)
        goto out;
    /* The kept cache is built by one start before the rows. */
    psb_start ignored;
    double a, b;
    if (one_start(st, &CONFIGS[2], kept, "result = 1", &a, &b, &ignored) != 0)
        goto out;
    for (size_t c = 0; c < N_CONFIGS; c++) {
        s = (start_samples){buf, buf + n, buf + 2 * n, buf + 3 * n, 0};
        if (config_rows(st, &CONFIGS[c], kept, n, &s) != 0)
            goto out;
    }
    rc = 0;
out:
    if (kept[0])
        nftw(kept, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(buf);
    return rc;
}

/* p50 of the floor row named name, 0 when there is none. */
static double floor_p50(const bench_rows *rows, const char *name) {
    for (size_t i = 0; i < rows->len; i++)
        if (strcmp(rows->items[i].workload, name) == 0 &&
            strcmp(rows->items[i].method, "floor") == 0)
            return rows->items[i].p50_ms;
    return 0;
}

void bench_print_start(FILE *out, const bench_rows *rows) {
    double python = floor_p50(rows, "python -c pass"), preload = floor_p50(rows, "preload alone");
    if (rows->len == 0)
        return;
    fprintf(out, "\n%-15s %-24s %5s %9s %9s %9s %12s %12s\n", "start", "method", "n", "p50 ms",
            "p90 ms", "p99 ms", "x python", "x preload");
    fprintf(out, "%.*s\n", 102,
            "----------------------------------------------------------------------"
            "----------------------------------------------------------------------");
    for (size_t i = 0; i < rows->len; i++) {
        const bench_row *r = &rows->items[i];
        fprintf(out, "%-15s %-24s %5zu %9.1f %9.1f %9.1f %11.2fx %11.2fx\n", r->workload, r->method,
                r->n, r->p50_ms, r->p90_ms, r->p99_ms, python > 0 ? r->p50_ms / python : 0,
                preload > 0 ? r->p50_ms / preload : 0);
    }
}

json_t *bench_start_json(const bench_rows *rows) {
    double python = floor_p50(rows, "python -c pass"), preload = floor_p50(rows, "preload alone");
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < rows->len; i++) {
        const bench_row *r = &rows->items[i];
        json_t *o =
            json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:f}", "start", r->workload, "method",
                      r->method, "n", (json_int_t)r->n, "p50_ms", r->p50_ms, "p90_ms", r->p90_ms,
                      "p99_ms", r->p99_ms, "vs_python", python > 0 ? r->p50_ms / python : 0.0,
                      "vs_preload", preload > 0 ? r->p50_ms / preload : 0.0);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
