/*
 * bench/snapshot_rows.c - what a session's snapshot costs: the time to take
 * one and to restore from one for sessions holding 10 MiB and 200 MiB of
 * data, and the memory a snapshot adds (PSS of every process below the
 * bench) right after it and once the session has rewritten its data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pysandbox.h>

#include "bench/bench.h"

/* Pss of pid and every process below it, KiB. */
static long tree_pss_kib(long pid) {
    char path[96], buf[8192];
    snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", pid);
    long total = 0;
    FILE *f = fopen(path, "r");
    while (f && fgets(buf, sizeof buf, f))
        if (strncmp(buf, "Pss:", 4) == 0)
            total += strtol(buf + 4, NULL, 10);
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", pid, pid);
    f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    for (char *p = buf, *end; *p; p = end) {
        long child = strtol(p, &end, 10);
        if (end == p)
            break;
        total += tree_pss_kib(child);
    }
    return total;
}

static int cell(psb_session *s, const char *code) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *o = NULL;
    int ok = psb_session_exec(s, code, strlen(code), NULL, &o, &err) == PSB_OK && psb_outcome_ok(o);
    if (!ok)
        fprintf(stderr, "pysandbox-bench: snapshot rows: %s: %s\n", code,
                o ? psb_outcome_error_message(o) : err.message);
    psb_outcome_free(o);
    return ok ? 0 : -1;
}

static double median(double *v, size_t n) {
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n ? v[n / 2] : 0;
}

int bench_snapshot_rows(bench_state *st, psb_sandbox *sandbox, size_t n) {
    static const unsigned sizes_mib[] = {10, 200};
    psb_error err = {.code = PSB_OK};
    double *took = calloc(n, sizeof *took), *back = calloc(n, sizeof *back);
    int rc = -1;
    if (!took || !back)
        goto out;
    fprintf(stderr, "\nsession snapshots (n=%zu each)\n", n);
    for (size_t k = 0; k < sizeof sizes_mib / sizeof sizes_mib[0]; k++) {
        psb_session *s = NULL;
        psb_snapshot *keep = NULL;
        char code[160];
        snprintf(code, sizeof code, "import numpy as np\nblob = np.ones(%u << 17)\n", sizes_mib[k]);
        if (psb_session_new(sandbox, NULL, &s, &err) != PSB_OK || cell(s, code) != 0) {
            fprintf(stderr, "pysandbox-bench: snapshot rows: %s\n", err.message);
            psb_session_free(s);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            psb_snapshot *snap = NULL;
            double t0 = bench_now_ms();
            if (psb_session_snapshot(s, &snap, &err) != PSB_OK)
                break;
            took[i] = bench_now_ms() - t0;
            psb_snapshot_free(snap);
        }
        long before = tree_pss_kib((long)getpid());
        if (psb_session_snapshot(s, &keep, &err) != PSB_OK)
            goto fail;
        long right_after = tree_pss_kib((long)getpid());
        if (cell(s, "blob += 1") != 0)
            goto fail;
        long rewritten = tree_pss_kib((long)getpid());
        for (size_t i = 0; i < n; i++) {
            double t0 = bench_now_ms();
            if (psb_session_restore(s, keep, &err) != PSB_OK)
                goto fail;
            back[i] = bench_now_ms() - t0;
        }
        double take_ms = median(took, n), restore_ms = median(back, n);
        fprintf(stderr,
                "  %4u MiB of data: snapshot p50 %7.2f ms, restore p50 %7.2f ms; a snapshot adds "
                "%.1f MiB at once, %.1f MiB once the session rewrote its data\n",
                sizes_mib[k], take_ms, restore_ms, (double)(right_after - before) / 1024.0,
                (double)(rewritten - before) / 1024.0);
        json_array_append_new(st->snapshot_rows,
                              json_pack("{s:i,s:f,s:f,s:I,s:I}", "data_mib", (int)sizes_mib[k],
                                        "snapshot_p50_ms", take_ms, "restore_p50_ms", restore_ms,
                                        "pss_added_kib", (json_int_t)(right_after - before),
                                        "pss_added_after_rewrite_kib",
                                        (json_int_t)(rewritten - before)));
        psb_snapshot_free(keep);
        psb_session_free(s);
        continue;
    fail:
        fprintf(stderr, "pysandbox-bench: snapshot rows: %s\n", err.message);
        psb_snapshot_free(keep);
        psb_session_free(s);
        goto out;
    }
    rc = 0;
out:
    free(took);
    free(back);
    return rc;
}
