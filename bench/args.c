/*
 * bench/args.c - pysandbox-bench's command line: the usage text, the
 * options and the --workload/--method filters, and how many timed
 * executions each kind of row gets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

/* Default timed executions: pysandbox warm, and everything slower. */
#define DEFAULT_N_WARM 50
#define DEFAULT_N_OTHER 20
#define QUICK_N 5
/* Sandboxes started per start row (each takes up to a second or two). */
#define DEFAULT_N_START 5
#define QUICK_N_START 2
/* Executions of a 2-thread row per timed execution of a warm row (50 -> 400). */
#define THREAD_ROW_FACTOR 8

/* Prints the usage to `out`. */
static void usage(FILE *out) {
    fprintf(out,
            "Usage: pysandbox-bench [--json] [--quick] [--start-only | --speed-only] [--n N]\n"
            "                       [--workload NAME]... [--method NAME]...\n"
            "\n"
            "Times the same Python code through pysandbox (warm and cold), a fresh\n"
            "python3.11 per execution (subprocess), the same under bubblewrap, and the\n"
            "one-shot CLI with and without a running server.\n"
            "\n"
            "  --json           print one JSON object on stdout (the table goes to stderr)\n"
            "  --n N            timed executions: N for pysandbox-warm, 2N/5 for the\n"
            "                   others, 8N for the 2-thread rows (default N=%d)\n"
            "  --quick          a tiny run: 5 timed executions each, 20 for 2-thread rows\n"
            "                   (--n wins over --quick)\n"
            "  --start-only     only the start rows: sandboxes started %d times each (N/10\n"
            "                   with --n, %d with --quick); they also follow the others\n"
            "  --speed-only     only the speed rows: the fork and pipe floors, back-to-back\n"
            "                   and paced latency, throughput from 1-8 threads on 1 and 2\n"
            "                   CPUs, memory with 16 executions in flight, module layer\n"
            "                   install and import, the external-interpreter engine; they\n"
            "                   also follow the others\n"
            "  --workload NAME  only this workload (repeatable):",
            DEFAULT_N_WARM, DEFAULT_N_START, QUICK_N_START);
    for (size_t i = 0; i < BENCH_N_WORKLOADS; i++)
        fprintf(out, " %s", bench_workloads[i].name);
    fprintf(out, "\n  --method NAME    only this method (repeatable):");
    for (size_t i = 0; i < BENCH_M__COUNT; i++)
        fprintf(out, " %s", bench_method_names[i]);
    fprintf(out, "\n  --help           show this help\n"
                 "\nExit status: 0 on success, 1 if an execution failed, 2 on bad usage.\n");
}

/* Whether name is among the n names. */
static int name_in(const char *name, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/*
 * The value of option `opt` at argv[*i]: "--opt=V" or "--opt V" (advancing
 * *i). Returns NULL when argv[*i] is not this option; sets *ret_missing when
 * it is but has no value. *i < argc, so argv[*i] is never NULL; the analyzer
 * assumes it may be.
 */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, int *ret_missing) {
    size_t len = strlen(opt);
    if (strncmp(argv[*i], opt, len) != 0) /* NOLINT(clang-analyzer-core.NonNullParamChecker) */
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *ret_missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int bench_parse_args(int argc, char **argv, bench_settings *set) {
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            set->json = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            set->quick = 1;
        } else if (strcmp(argv[i], "--start-only") == 0) {
            set->start_only = 1;
        } else if (strcmp(argv[i], "--speed-only") == 0) {
            set->speed_only = 1;
        } else if ((v = opt_value(argc, argv, &i, "--n", &missing)) != NULL) {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || n < 1 || n > 100000) {
                fprintf(stderr, "pysandbox-bench: --n wants a number in 1..100000, not '%s'\n", v);
                goto bad;
            }
            set->n = n;
        } else if ((v = opt_value(argc, argv, &i, "--workload", &missing)) != NULL) {
            size_t k = 0;
            while (k < BENCH_N_WORKLOADS && strcmp(bench_workloads[k].name, v) != 0)
                k++;
            if (k == BENCH_N_WORKLOADS || set->n_workload_filters == BENCH_MAX_FILTERS) {
                fprintf(stderr, "pysandbox-bench: unknown workload '%s'\n", v);
                goto bad;
            }
            set->workloads[set->n_workload_filters++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--method", &missing)) != NULL) {
            if (!name_in(v, bench_method_names, BENCH_M__COUNT) ||
                set->n_method_filters == BENCH_MAX_FILTERS) {
                fprintf(stderr, "pysandbox-bench: unknown method '%s'\n", v);
                goto bad;
            }
            set->methods[set->n_method_filters++] = v;
        } else {
            if (missing)
                fprintf(stderr, "pysandbox-bench: %s needs a value\n", argv[i]);
            else
                fprintf(stderr, "pysandbox-bench: unknown option '%s'\n", argv[i]);
            goto bad;
        }
    }
    if (set->n > 0) {
        set->n_warm = (size_t)set->n;
        set->n_other = ((size_t)set->n * DEFAULT_N_OTHER + DEFAULT_N_WARM - 1) / DEFAULT_N_WARM;
        set->n_threaded = (size_t)set->n * THREAD_ROW_FACTOR;
    } else if (set->quick) {
        set->n_warm = set->n_other = QUICK_N;
        set->n_threaded = 4 * QUICK_N;
    } else {
        set->n_warm = DEFAULT_N_WARM;
        set->n_other = DEFAULT_N_OTHER;
        set->n_threaded = DEFAULT_N_WARM * THREAD_ROW_FACTOR;
    }
    if (set->n_threaded < 2)
        set->n_threaded = 2;
    set->n_start = set->n > 0 ? (size_t)set->n / 10 : set->quick ? QUICK_N_START : DEFAULT_N_START;
    if (set->n_start < 1)
        set->n_start = 1;
    return 0;
bad:
    usage(stderr);
    return 2;
}

int bench_want_workload(const bench_settings *set, const bench_workload *w) {
    return set->n_workload_filters == 0 ||
           name_in(w->name, set->workloads, set->n_workload_filters);
}

int bench_want_method(const bench_settings *set, bench_method m) {
    return set->n_method_filters == 0 ||
           name_in(bench_method_names[m], set->methods, set->n_method_filters);
}
