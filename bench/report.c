/*
 * bench/report.c - turns pysandbox-bench's rows into the human table (grouped
 * by workload, with a "vs subprocess" latency ratio) and into JSON rows, and
 * prints the progress lines and the whole report around the table.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

double bench_vs_subprocess(const bench_rows *rows, const bench_row *row) {
    for (size_t i = 0; i < rows->len; i++) {
        const bench_row *r = &rows->items[i];
        if (strcmp(r->workload, row->workload) == 0 && strcmp(r->method, "subprocess") == 0)
            return row->p50_ms > 0 ? r->p50_ms / row->p50_ms : 0;
    }
    return 0;
}

/*
 * Whether `name` is one of the n names. The names come from the static
 * tables of workloads and methods, none NULL; the analyzer cannot see that.
 */
static int in_list(const char *name, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0) /* NOLINT(clang-analyzer-core.NonNullParamChecker) */
            return 1;
    return 0;
}

/* Prints one row of the table. */
static void print_row(FILE *out, const bench_rows *rows, const bench_row *r) {
    char ratio[32] = "-", rss[32] = "-";
    double vs = bench_vs_subprocess(rows, r);
    if (vs > 0)
        snprintf(ratio, sizeof ratio, "%.1fx", vs);
    if (r->peak_rss_known)
        snprintf(rss, sizeof rss, "%.1f", (double)r->peak_rss_kib / 1024.0);
    fprintf(out, "%-15s %-24s %5zu %9.2f %9.2f %9.2f %9.1f %9s %13s\n", r->workload, r->method,
            r->n, r->p50_ms, r->p90_ms, r->p99_ms, r->throughput_per_s, rss, ratio);
}

/* Prints the rows of one workload (NULL: of workloads not in the order). */
static void print_group(FILE *out, const bench_rows *rows, const char *workload,
                        const char *const *workload_order, size_t n_workloads,
                        const char *const *method_order, size_t n_methods) {
    for (size_t m = 0; m <= n_methods; m++) {
        for (size_t i = 0; i < rows->len; i++) {
            const bench_row *r = &rows->items[i];
            int mine = workload != NULL ? strcmp(r->workload, workload) == 0
                                        : !in_list(r->workload, workload_order, n_workloads);
            int method_ok = m < n_methods ? strcmp(r->method, method_order[m]) == 0
                                          : !in_list(r->method, method_order, n_methods);
            if (mine && method_ok)
                print_row(out, rows, r);
        }
    }
}

void bench_print_table(FILE *out, const bench_rows *rows, const char *const *workload_order,
                       size_t n_workloads, const char *const *method_order, size_t n_methods) {
    fprintf(out, "%-15s %-24s %5s %9s %9s %9s %9s %9s %13s\n", "workload", "method", "n", "p50 ms",
            "p90 ms", "p99 ms", "exec/s", "peak MiB", "vs subprocess");
    fprintf(out, "%.*s\n", 108,
            "----------------------------------------------------------------------"
            "----------------------------------------------------------------------");
    for (size_t w = 0; w < n_workloads; w++)
        print_group(out, rows, workload_order[w], workload_order, n_workloads, method_order,
                    n_methods);
    print_group(out, rows, NULL, workload_order, n_workloads, method_order, n_methods);
}

/* A double rounded to 3 decimals, as JSON. */
static json_t *real3(double v) {
    return json_real((double)(long long)(v * 1000.0 + (v >= 0 ? 0.5 : -0.5)) / 1000.0);
}

json_t *bench_rows_json(const bench_rows *rows) {
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < rows->len; i++) {
        const bench_row *r = &rows->items[i];
        double vs = bench_vs_subprocess(rows, r);
        json_t *o =
            json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "workload", r->workload,
                      "method", r->method, "n", (json_int_t)r->n, "p50_ms", real3(r->p50_ms),
                      "p90_ms", real3(r->p90_ms), "p99_ms", real3(r->p99_ms), "throughput_per_s",
                      real3(r->throughput_per_s), "peak_rss_kib",
                      r->peak_rss_known ? json_integer((json_int_t)r->peak_rss_kib) : json_null(),
                      "vs_subprocess", vs > 0 ? real3(vs) : json_null());
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

void bench_report_progress(const bench_row *row) {
    fprintf(stderr, "  %-15s %-24s n=%-4zu p50=%9.2f ms  %8.1f exec/s\n", row->workload,
            row->method, row->n, row->p50_ms, row->throughput_per_s);
}

void bench_note_linearity(bench_state *st) {
    const bench_row *small = NULL, *big = NULL;
    for (size_t i = 0; i < st->rows.len; i++) {
        const bench_row *r = &st->rows.items[i];
        if (strcmp(r->method, "pysandbox-warm") != 0)
            continue;
        if (strcmp(r->workload, "tolist-100k") == 0)
            small = r;
        else if (strcmp(r->workload, "tolist-1m") == 0)
            big = r;
    }
    if (small == NULL || big == NULL || small->p50_ms <= 0)
        return;
    char note[256];
    snprintf(note, sizeof note,
             "tolist: 10x the elements took %.1fx the time (p50 %.1f ms vs %.1f ms; "
             "%.0f ns per extra element)",
             big->p50_ms / small->p50_ms, big->p50_ms, small->p50_ms,
             (big->p50_ms - small->p50_ms) * 1e6 / 900000.0);
    bench_add_note(st, note);
}

void bench_print_report(FILE *out, const bench_state *st, const json_t *machine) {
    const char *order[BENCH_N_WORKLOADS];
    for (size_t i = 0; i < BENCH_N_WORKLOADS; i++)
        order[i] = bench_workloads[i].name;

    fprintf(out, "machine: %s, %lld cores, %lld MiB, %s, Python %s\n",
            json_string_value(json_object_get(machine, "cpu_model")),
            (long long)json_integer_value(json_object_get(machine, "cores")),
            (long long)json_integer_value(json_object_get(machine, "memory_kib")) / 1024,
            json_string_value(json_object_get(machine, "kernel")),
            json_string_value(json_object_get(machine, "python_version")));
    if (st->rows.len > 0)
        fprintf(out,
                "timed executions: pysandbox-warm %zu, others %zu, 2-thread rows %zu "
                "(after one warm-up each)\n\n",
                st->set.n_warm, st->set.n_other, st->set.n_threaded);
    if (st->start_rows.len > 0)
        fprintf(out, "sandboxes started per start row: %zu (times from before psb_sandbox_new)\n",
                st->set.n_start);
    if (st->rows.len > 0)
        bench_print_table(out, &st->rows, order, BENCH_N_WORKLOADS, bench_table_method_order,
                          BENCH_M__COUNT);
    bench_print_start(out, &st->start_rows);
    bench_print_speed(out, st->speed_rows);

    const char *key;
    json_t *v;
    int header = 0;
    json_object_foreach(st->helper_mem, key, v) {
        if (!header++)
            fputc('\n', out);
        fprintf(out,
                "helper (%s): VmRSS %.1f MiB, Pss %.1f MiB, VmHWM %.1f MiB, started in %.0f ms\n",
                key, (double)json_integer_value(json_object_get(v, "vm_rss_kib")) / 1024.0,
                (double)json_integer_value(json_object_get(v, "pss_kib")) / 1024.0,
                (double)json_integer_value(json_object_get(v, "vm_hwm_kib")) / 1024.0,
                json_number_value(json_object_get(v, "sandbox_start_ms")));
    }
    size_t i;
    if (json_array_size(st->notes) > 0)
        fputc('\n', out);
    json_array_foreach(st->notes, i, v) fprintf(out, "note: %s\n", json_string_value(v));
}
