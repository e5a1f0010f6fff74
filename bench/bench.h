/*
 * bench/bench.h - internal interface shared by the files of pysandbox-bench:
 * result rows, timing and percentile helpers, the subprocess/bwrap runner,
 * /proc readers (machine facts, helper RSS) and the table/JSON report.
 */
#ifndef PSB_BENCH_H
#define PSB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* One line of the report: a (workload, method) pair and its measurements. */
typedef struct bench_row {
    char workload[32];       /* workload name, e.g. "numpy-mean" */
    char method[40];         /* method name, e.g. "pysandbox-warm" */
    size_t n;                /* timed executions */
    double p50_ms;           /* median wall time of one execution, ms */
    double p90_ms;           /* 90th percentile, ms */
    double p99_ms;           /* 99th percentile, ms */
    double throughput_per_s; /* executions per second over the timed loop */
    uint64_t peak_rss_kib;   /* largest peak RSS of one execution, KiB */
    int peak_rss_known;      /* 0: the method cannot measure it (null, "-") */
} bench_row;

/* A growable array of rows. Zero-initialize; free with bench_rows_free(). */
typedef struct bench_rows {
    bench_row *items; /* owned */
    size_t len;       /* rows in use */
    size_t cap;       /* rows allocated */
} bench_rows;

/* Appends a copy of *row. Returns 0, or -1 when out of memory (rows unchanged). */
int bench_rows_push(bench_rows *rows, const bench_row *row);

/* Frees the rows' storage. Safe on a zeroed or already freed array. */
void bench_rows_free(bench_rows *rows);

/* Milliseconds on CLOCK_MONOTONIC (arbitrary origin). */
double bench_now_ms(void);

/*
 * Fills p50/p90/p99 of *row from n samples (ms); sorts `samples` in place.
 * Percentiles interpolate linearly between the closest ranks (numpy's
 * default), so with 20 samples p99 is close to the maximum. n must be > 0.
 */
void bench_fill_percentiles(bench_row *row, double *samples, size_t n);

/* A NULL-terminated argv whose strings are owned copies. */
typedef struct bench_argv {
    char **v;   /* v[len] == NULL once anything was pushed */
    size_t len; /* strings in v */
    size_t cap; /* slots allocated, including the NULL */
} bench_argv;

/* Appends a copy of s. Returns 0, or -1 when out of memory. */
int bench_argv_push(bench_argv *argv, const char *s);

/* Frees every string and the array. Safe on a zeroed argv. */
void bench_argv_free(bench_argv *argv);

/*
 * Spawns argv (argv->v[0] an absolute path, environment inherited) with
 * stdin and stdout on /dev/null, stderr truncated into err_path and cwd set
 * to `cwd`, and waits for it. On success returns 0 and stores the wall time
 * from spawn to reap, the wait status and the peak RSS that wait4 reports
 * (the largest of the process and its reaped descendants). Returns -1 with a
 * message on stderr when the spawn or the wait fails.
 */
int bench_spawn_wait(const bench_argv *argv, const char *cwd, const char *err_path,
                     double *ret_wall_ms, int *ret_wstatus, uint64_t *ret_maxrss_kib);

/*
 * Runs argv with stdout on a pipe and returns what it printed (at most
 * 64 KiB, NUL-terminated, caller frees) if it exited 0; NULL otherwise.
 */
char *bench_spawn_capture(const bench_argv *argv);

/* Absolute path of an executable found on $PATH (caller frees), or NULL. */
char *bench_which(const char *name);

/* Prints the last `max_bytes` of a file to stderr, indented. Best effort. */
void bench_print_file_tail(const char *path, size_t max_bytes);

/*
 * Machine facts as a new JSON object: cpu_model, cores, memory_kib, kernel,
 * and python/numpy/pandas/matplotlib versions from `python` (a path).
 * Never NULL unless out of memory; unknown facts are JSON null.
 */
json_t *bench_machine_info(const char *python);

/* Memory of one process, KiB; -1 where /proc did not say. */
typedef struct bench_proc_mem {
    long pid;        /* the process */
    long vm_rss_kib; /* VmRSS from /proc/PID/status */
    long vm_hwm_kib; /* VmHWM (peak RSS) from /proc/PID/status */
    long pss_kib;    /* Pss from /proc/PID/smaps_rollup */
} bench_proc_mem;

/*
 * Finds this process's child whose comm is `comm` (the kernel truncates
 * comm to 15 bytes: "pysandbox-helpe") and reads its memory. Returns 0 and
 * fills *ret_mem, or -1 when no such child exists. With several matches
 * the newest (highest pid) wins.
 */
int bench_child_mem(const char *comm, bench_proc_mem *ret_mem);

/*
 * Writes the table to `out`, grouped by workload in the order of
 * `workload_order` and within a workload by `method_order` (rows named in
 * neither follow), with a "vs subprocess" column: subprocess p50 / row p50
 * for the same workload.
 */
void bench_print_table(FILE *out, const bench_rows *rows, const char *const *workload_order,
                       size_t n_workloads, const char *const *method_order, size_t n_methods);

/* subprocess p50 / row p50 for the row's workload; 0 when there is none. */
double bench_vs_subprocess(const bench_rows *rows, const bench_row *row);

/* The rows as a new JSON array of objects (NULL when out of memory). */
json_t *bench_rows_json(const bench_rows *rows);

#endif /* PSB_BENCH_H */
