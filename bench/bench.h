/*
 * bench/bench.h - internal interface shared by the files of pysandbox-bench:
 * the workloads and methods, the settings and the run's state, the rows
 * through pysandbox and through the baselines, result rows, timing and
 * percentile helpers, the subprocess/bwrap runner, /proc readers (machine
 * facts, helper RSS) and the table/JSON report.
 */
#ifndef PSB_BENCH_H
#define PSB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <pysandbox.h>

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

/* A "1234 kB" field (key with its colon) of /proc/PID/FILE, KiB; -1 when unknown. */
long bench_pid_kib(long pid, const char *file, const char *key);

/*
 * The PSS of process `root` and all its descendants, KiB (-1 on failure),
 * and in *ret_count how many of them said.
 */
long bench_tree_pss_kib(long root, size_t *ret_count);

/*
 * Floors (floors.c), each measured in a process forked for it: n fork+exit
 * round trips of a process holding `bytes` of touched anonymous memory (on
 * transparent huge pages when huge), and n one-byte pipe round trips
 * between two processes. Samples in ms; 0, or -1 after printing why.
 */
int bench_fork_floor(size_t bytes, int huge, double *samples, size_t n);
int bench_pipe_floor(double *samples, size_t n);

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

/* A piece of Python run by every method. */
typedef struct bench_workload {
    const char *name;            /* the --workload name */
    const char *code;            /* the same code for every method */
    int warm_only;               /* 1: pysandbox-warm only (result conversion) */
    uint64_t result_limit_bytes; /* 0: the default cap */
} bench_workload;

/* Entries of bench_workloads (checked against the table where it is defined). */
#define BENCH_N_WORKLOADS 6

/* The workloads, in the order of the table and of --help (workloads.c). */
extern const bench_workload *const bench_workloads;

/* The workload of the 2-thread rows and of a sandbox's first execution. */
#define BENCH_THREAD_WORKLOAD (&bench_workloads[0])

/* The ways of running a workload; names in bench_method_names. */
typedef enum bench_method {
    BENCH_M_WARM,
    BENCH_M_COLD,
    BENCH_M_SUBPROCESS,
    BENCH_M_BWRAP,
    BENCH_M_WARM_2T,
    BENCH_M_COLD_2T,
    BENCH_M_CLI,         /* pysandbox run FILE: a helper start per execution */
    BENCH_M_CLI_CONNECT, /* pysandbox run --connect: through a running serve */
    BENCH_M_SESSION,     /* cells of one psb_session on the warm sandbox */
    BENCH_M__COUNT
} bench_method;

/* The --method name of each method, in the order of --help. */
extern const char *const bench_method_names[BENCH_M__COUNT];

/* The order of methods within a workload in the table. */
extern const char *const bench_table_method_order[BENCH_M__COUNT];

/* Filters given more often than this are a usage error. */
#define BENCH_MAX_FILTERS 32

/* Command-line settings. */
typedef struct bench_settings {
    int json;                                 /* --json */
    int quick;                                /* --quick */
    long n;                                   /* --n, or -1 */
    const char *workloads[BENCH_MAX_FILTERS]; /* --workload names (borrowed from argv) */
    size_t n_workload_filters;
    const char *methods[BENCH_MAX_FILTERS]; /* --method names (borrowed from argv) */
    size_t n_method_filters;
    size_t n_warm;     /* timed executions, pysandbox-warm */
    size_t n_other;    /* timed executions, everything else */
    size_t n_threaded; /* executions of a 2-thread row */
    size_t n_start;    /* sandboxes started per start row */
    int start_only;    /* --start-only: only the start rows */
    int speed_only;    /* --speed-only: only the speed rows */
} bench_settings;

/* Everything main() owns, freed in one place. */
typedef struct bench_state {
    bench_settings set;
    bench_rows rows;
    bench_rows start_rows; /* bench_run_start()'s */
    json_t *helper_mem;    /* {"warm": {...}, "cold": {...}} */
    json_t *snapshot_rows; /* bench_snapshot_rows()'s: [{"data_mib", ...}] */
    json_t *notes;         /* array of strings */
    json_t *speed_rows;    /* bench_run_speed()'s lines: [{"what", "how", ...}] */
    json_t *speed_memory;  /* and its memory figures */
    char *helper_path;     /* next to the executable, or NULL */
    char *bwrap_path;      /* NULL when bwrap is missing or broken */
    char *cli_path;        /* the pysandbox CLI next to the executable, or NULL */
    long server_pid;       /* the `pysandbox serve` of the connect rows, or 0 */
    char server_sock[160]; /* its socket */
    char tmp_root[64];     /* mkdtemp directory, "" if none */
    char work_dir[128];    /* tmp_root/work: cwd of the baselines */
    char err_path[128];    /* tmp_root/stderr.txt: their stderr */
} bench_state;

/*
 * Parses the command line into *set (set->n preset to -1). Returns 0, 1 for
 * --help (usage printed on stdout), or 2 after printing a usage error.
 */
int bench_parse_args(int argc, char **argv, bench_settings *set);

/* Whether the filters select workload w / method m. */
int bench_want_workload(const bench_settings *set, const bench_workload *w);
int bench_want_method(const bench_settings *set, bench_method m);

/* A new row for workload w and method m: names set, peak RSS known, rest 0. */
bench_row bench_row_for(const bench_workload *w, bench_method m);

/* Adds a note (a line printed under the table and listed in the JSON). */
void bench_add_note(bench_state *st, const char *text);

/*
 * All rows of a pysandbox mode (warm: BENCH_M_WARM and BENCH_M_WARM_2T,
 * cold: BENCH_M_COLD and BENCH_M_COLD_2T) on one sandbox, appended to
 * st->rows, with the helper's memory in st->helper_mem. Returns 0, or -1
 * after printing why.
 */
int bench_run_pysandbox(bench_state *st, psb_mode mode);
/* Runs code once on sandbox, checking the outcome: 0 with its wall time, or -1 (printed). */
int bench_exec(psb_sandbox *sandbox, const char *code, const char *label, double *ret_ms);

/* Most host threads of one threaded run. */
#define BENCH_MAX_THREADS 16

/* A threaded run: `total` executions of code split over `threads` host threads. */
typedef struct bench_threads {
    psb_sandbox *sandbox;
    const char *code;
    const char *label;                /* for errors */
    size_t threads;                   /* 1..BENCH_MAX_THREADS */
    size_t total;                     /* >= threads */
    void (*during)(void *during_arg); /* called on the calling thread once all started, or NULL */
    void *during_arg;
} bench_threads;

/*
 * Runs t, with each execution's wall time in samples (t->total of them),
 * the run's wall time and the largest child peak RSS. 0, or -1 when an
 * execution failed (printed).
 */
int bench_run_threads(const bench_threads *t, double *samples, double *ret_wall_ms,
                      uint64_t *ret_peak_rss_kib);

/*
 * Session snapshots on the warm sandbox: n snapshots and n restores of
 * sessions holding 10 and 200 MiB, and what one adds in memory. Printed on
 * stderr as they are measured, kept in st->snapshot_rows. 0, or -1.
 */
int bench_snapshot_rows(bench_state *st, psb_sandbox *sandbox, size_t n);

/*
 * Rows of the baselines (a fresh python per execution, and the same under
 * bwrap when it works here; a note says why not), appended to st->rows.
 * Returns 0, or -1 after printing why.
 */
int bench_run_baselines(bench_state *st);

/*
 * The start rows (start_rows.c): psb_sandbox_new and the first answers of
 * new sandboxes, warm (early start or waiting) and cold, with the cache
 * kept and fresh, and two subprocess floors, appended to st->start_rows.
 * Returns 0, or -1 after printing why.
 */
int bench_run_start(bench_state *st);
/*
 * The speed rows (speed_rows.c): floors, latency back to back and paced,
 * throughput on 1 and 2 CPUs, memory in flight, into st->speed_rows and
 * st->speed_memory. 0, or -1 after printing why.
 */
int bench_run_speed(bench_state *st);
/* n executions of code on sb, `pause_ms` before each; the row in *r. 0 or -1. */
int bench_latency_row(psb_sandbox *sb, const char *code, unsigned pause_ms, size_t n, bench_row *r);
/* Adds a speed line (printed now on stderr, kept for the table and the JSON). */
void bench_speed_line(bench_state *st, const char *what, const char *how, const bench_row *r,
                      const char *vs);
/* The module layer rows, appended to the speed rows (layer_rows.c). 0 or -1. */
int bench_run_layers(bench_state *st);
/* The external-interpreter rows, appended to the speed rows (external_rows.c). 0 or -1. */
int bench_run_external(bench_state *st);
/* Prints the speed lines (nothing when there are none). */
void bench_print_speed(FILE *out, const json_t *lines);

/* Prints the start rows with their ratios to the floors (nothing when there are none). */
void bench_print_start(FILE *out, const bench_rows *rows);
/* The start rows as a new JSON array (NULL when out of memory). */
json_t *bench_start_json(const bench_rows *rows);

/* Prints the progress line of a finished row to stderr. */
void bench_report_progress(const bench_row *row);

/* Adds a note on whether converting the large list stayed linear. */
void bench_note_linearity(bench_state *st);

/* Prints the table, the machine line, the helper's memory and the notes. */
void bench_print_report(FILE *out, const bench_state *st, const json_t *machine);

#endif /* PSB_BENCH_H */
