/*
 * bench/util.c - small building blocks of pysandbox-bench: the row array,
 * the monotonic clock, percentiles and owned argv arrays.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

int bench_rows_push(bench_rows *rows, const bench_row *row) {
    if (rows->len == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 16;
        bench_row *items = realloc(rows->items, cap * sizeof *items);
        if (items == NULL)
            return -1;
        rows->items = items;
        rows->cap = cap;
    }
    rows->items[rows->len++] = *row;
    return 0;
}

void bench_rows_free(bench_rows *rows) {
    free(rows->items);
    rows->items = NULL;
    rows->len = rows->cap = 0;
}

double bench_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* qsort comparator for doubles, ascending. */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of sorted samples, linear interpolation. */
static double percentile(const double *sorted, size_t n, double p) {
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    size_t hi = (size_t)ceil(rank);
    double frac = rank - (double)lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

void bench_fill_percentiles(bench_row *row, double *samples, size_t n) {
    qsort(samples, n, sizeof *samples, cmp_double);
    row->p50_ms = percentile(samples, n, 50.0);
    row->p90_ms = percentile(samples, n, 90.0);
    row->p99_ms = percentile(samples, n, 99.0);
}

int bench_argv_push(bench_argv *argv, const char *s) {
    if (argv->len + 2 > argv->cap) {
        size_t cap = argv->cap ? argv->cap * 2 : 16;
        char **v = realloc(argv->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        argv->v = v;
        argv->cap = cap;
    }
    char *copy = strdup(s);
    if (copy == NULL)
        return -1;
    argv->v[argv->len++] = copy;
    argv->v[argv->len] = NULL;
    return 0;
}

void bench_argv_free(bench_argv *argv) {
    for (size_t i = 0; i < argv->len; i++)
        free(argv->v[i]);
    free(argv->v);
    argv->v = NULL;
    argv->len = argv->cap = 0;
}
