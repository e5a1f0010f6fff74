/*
 * bench/bench.c - pysandbox-bench: times the same Python workloads through
 * pysandbox (warm and cold), a fresh python3.11 per execution and the same
 * under bubblewrap, and prints a table or one JSON object (--json).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pysandbox.h>

#include "bench/bench.h"

#ifndef PSB_PYTHON_EXECUTABLE
#define PSB_PYTHON_EXECUTABLE "/usr/bin/python3.11"
#endif

/* Filters given more often than this are a usage error. */
#define MAX_FILTERS 32
/* Default timed executions: pysandbox warm, and everything slower. */
#define DEFAULT_N_WARM 50
#define DEFAULT_N_OTHER 20
#define QUICK_N 5
/* Executions of a 2-thread row per timed execution of a warm row (50 -> 400). */
#define THREAD_ROW_FACTOR 8
/* Result cap for the large-list workloads. */
#define BIG_RESULT_LIMIT_BYTES ((uint64_t)64 << 20)

/* A piece of Python run by every method. */
typedef struct workload {
    const char *name;            /* the --workload name */
    const char *code;            /* the same code for every method */
    int warm_only;               /* 1: pysandbox-warm only (result conversion) */
    uint64_t result_limit_bytes; /* 0: the default cap */
} workload;

static const workload WORKLOADS[] = {
    {"trivial", "result = 1 + 1", 0, 0},
    {"numpy-mean",
     "import numpy as np; result = float(np.random.default_rng(1).random(1000).mean())", 0, 0},
    {"pandas-groupby",
     "import numpy as np\n"
     "import pandas as pd\n"
     "rng = np.random.default_rng(1)\n"
     "df = pd.DataFrame({'key': np.arange(1000) % 10, 'value': rng.random(1000)})\n"
     "g = df.groupby('key')['value'].agg(['mean', 'sum', 'count'])\n"
     "result = {str(k): [float(r['mean']), float(r['sum']), int(r['count'])]\n"
     "          for k, r in g.iterrows()}\n",
     0, 0},
    {"matplotlib-png",
     "import matplotlib\n"
     "matplotlib.use('Agg')\n"
     "import matplotlib.pyplot as plt\n"
     "xs = list(range(200))\n"
     "plt.plot(xs, [x * x for x in xs])\n"
     "plt.title('squares')\n"
     "plt.savefig('plot.png')\n"
     "plt.close('all')\n"
     "result = 'plot.png'\n",
     0, 0},
    {"tolist-100k", "import numpy as np; result = np.arange(1e5).tolist()", 1,
     BIG_RESULT_LIMIT_BYTES},
    {"tolist-1m", "import numpy as np; result = np.arange(1e6).tolist()", 1,
     BIG_RESULT_LIMIT_BYTES},
};
#define N_WORKLOADS (sizeof WORKLOADS / sizeof WORKLOADS[0])
#define THREAD_WORKLOAD (&WORKLOADS[0])

typedef enum method {
    M_WARM,
    M_COLD,
    M_SUBPROCESS,
    M_BWRAP,
    M_WARM_2T,
    M_COLD_2T,
    M__COUNT
} method;

static const char *const METHOD_NAMES[M__COUNT] = {
    "pysandbox-warm", "pysandbox-cold",          "subprocess",
    "bwrap",          "pysandbox-warm-2threads", "pysandbox-cold-2threads",
};

/* The order of methods within a workload in the table. */
static const char *const TABLE_METHOD_ORDER[M__COUNT] = {
    "pysandbox-warm", "pysandbox-warm-2threads",
    "pysandbox-cold", "pysandbox-cold-2threads",
    "subprocess",     "bwrap",
};

/* Command-line settings. */
typedef struct settings {
    int json;                           /* --json */
    int quick;                          /* --quick */
    long n;                             /* --n, or -1 */
    const char *workloads[MAX_FILTERS]; /* --workload names (borrowed from argv) */
    size_t n_workload_filters;
    const char *methods[MAX_FILTERS]; /* --method names (borrowed from argv) */
    size_t n_method_filters;
    size_t n_warm;     /* timed executions, pysandbox-warm */
    size_t n_other;    /* timed executions, everything else */
    size_t n_threaded; /* executions of a 2-thread row */
} settings;

/* Everything main() owns, freed in one place. */
typedef struct bench_state {
    settings set;
    bench_rows rows;
    json_t *helper_mem; /* {"warm": {...}, "cold": {...}} */
    json_t *notes;      /* array of strings */
    char *helper_path;  /* next to the executable, or NULL */
    char *bwrap_path;   /* NULL when bwrap is missing or broken */
    char tmp_root[64];  /* mkdtemp directory, "" if none */
    char work_dir[128]; /* tmp_root/work: cwd of the baselines */
    char err_path[128]; /* tmp_root/stderr.txt: their stderr */
} bench_state;

/* Prints the usage to `out`. */
static void usage(FILE *out) {
    fprintf(out,
            "Usage: pysandbox-bench [--json] [--quick] [--n N] [--workload NAME]...\n"
            "                       [--method NAME]...\n"
            "\n"
            "Times the same Python code through pysandbox (warm and cold), a fresh\n"
            "python3.11 per execution (subprocess) and the same under bubblewrap.\n"
            "\n"
            "  --json           print one JSON object on stdout (the table goes to stderr)\n"
            "  --n N            timed executions: N for pysandbox-warm, 2N/5 for the\n"
            "                   others, 8N for the 2-thread rows (default N=%d)\n"
            "  --quick          a tiny run: 5 timed executions each, 20 for 2-thread rows\n"
            "                   (--n wins over --quick)\n"
            "  --workload NAME  only this workload (repeatable):",
            DEFAULT_N_WARM);
    for (size_t i = 0; i < N_WORKLOADS; i++)
        fprintf(out, " %s", WORKLOADS[i].name);
    fprintf(out, "\n  --method NAME    only this method (repeatable):");
    for (size_t i = 0; i < M__COUNT; i++)
        fprintf(out, " %s", METHOD_NAMES[i]);
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
 * it is but has no value.
 */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, int *ret_missing) {
    size_t len = strlen(opt);
    if (strncmp(argv[*i], opt, len) != 0)
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

/*
 * Parses the command line into *set. Returns 0, 1 for --help (usage printed),
 * or 2 after printing a usage error.
 */
static int parse_args(int argc, char **argv, settings *set) {
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
            while (k < N_WORKLOADS && strcmp(WORKLOADS[k].name, v) != 0)
                k++;
            if (k == N_WORKLOADS || set->n_workload_filters == MAX_FILTERS) {
                fprintf(stderr, "pysandbox-bench: unknown workload '%s'\n", v);
                goto bad;
            }
            set->workloads[set->n_workload_filters++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--method", &missing)) != NULL) {
            if (!name_in(v, METHOD_NAMES, M__COUNT) || set->n_method_filters == MAX_FILTERS) {
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
    return 0;
bad:
    usage(stderr);
    return 2;
}

/* Whether the filters select workload w / method m. */
static int want_workload(const settings *set, const workload *w) {
    return set->n_workload_filters == 0 ||
           name_in(w->name, set->workloads, set->n_workload_filters);
}

static int want_method(const settings *set, method m) {
    return set->n_method_filters == 0 ||
           name_in(METHOD_NAMES[m], set->methods, set->n_method_filters);
}

/* Adds a note (a line printed under the table and listed in the JSON). */
static void add_note(bench_state *st, const char *text) {
    json_array_append_new(st->notes, json_string(text));
    fprintf(stderr, "pysandbox-bench: note: %s\n", text);
}

/* Prints the progress line of a finished row to stderr. */
static void report_progress(const bench_row *row) {
    fprintf(stderr, "  %-15s %-24s n=%-4zu p50=%9.2f ms  %8.1f exec/s\n", row->workload,
            row->method, row->n, row->p50_ms, row->throughput_per_s);
}

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
 * Runs code once through psb_exec and checks the outcome is ok with a
 * result. Returns 0 with the call's wall time and the child's peak RSS, or
 * -1 after printing why (label names the row).
 */
static int exec_once(psb_sandbox *sandbox, const char *code, const psb_exec_options *options,
                     const char *label, double *ret_ms, uint64_t *ret_rss_kib) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *outcome = NULL;
    psb_stats stats;
    int rc = -1;

    double start = bench_now_ms();
    psb_status status = psb_exec(sandbox, code, strlen(code), options, &outcome, &err);
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

/* Starts a row for workload w and method m. */
static bench_row row_for(const workload *w, method m) {
    bench_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.workload, sizeof row.workload, "%s", w->name);
    snprintf(row.method, sizeof row.method, "%s", METHOD_NAMES[m]);
    row.peak_rss_known = 1;
    return row;
}

/*
 * One (workload, pysandbox method) row: a warm-up execution, then n timed
 * ones. Returns 0 with the row appended, or -1 after printing an error.
 */
static int psb_row(bench_state *st, psb_sandbox *sandbox, const workload *w, method m, size_t n) {
    psb_error err = {.code = PSB_OK};
    psb_exec_options *options = NULL;
    double *samples = calloc(n, sizeof *samples);
    bench_row row = row_for(w, m);
    char label[96];
    uint64_t rss = 0;
    double ms = 0;
    int rc = -1;

    snprintf(label, sizeof label, "%s/%s", w->name, METHOD_NAMES[m]);
    if (samples == NULL || (options = psb_exec_options_new(&err)) == NULL) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    if (w->result_limit_bytes > 0 &&
        psb_exec_options_set_result_limit_bytes(options, w->result_limit_bytes, &err) != PSB_OK) {
        fprintf(stderr, "pysandbox-bench: result limit: %s\n", err.message);
        goto out;
    }
    if (exec_once(sandbox, w->code, options, label, &ms, &rss) != 0)
        goto out;
    double loop_start = bench_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (exec_once(sandbox, w->code, options, label, &samples[i], &rss) != 0)
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
    report_progress(&row);
    rc = 0;
out:
    psb_exec_options_free(options);
    free(samples);
    return rc;
}

/* One host thread of a 2-thread row. */
typedef struct thread_job {
    psb_sandbox *sandbox;  /* shared by both threads */
    const char *code;      /* what to run */
    const char *label;     /* row name for errors */
    double *samples;       /* n wall times, ms (a slice of the row's array) */
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

/*
 * The 2-thread row of method m: `total` executions of the trivial workload
 * split over two host threads on one sandbox (after the warm-up the
 * workload rows already did). Throughput is total / wall time of the whole.
 */
static int threaded_row(bench_state *st, psb_sandbox *sandbox, method m, size_t total) {
    const workload *w = THREAD_WORKLOAD;
    double *samples = calloc(total, sizeof *samples);
    bench_row row = row_for(w, m);
    thread_job jobs[2];
    pthread_t threads[2];
    size_t started = 0;
    int rc = -1;

    if (samples == NULL) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    for (size_t t = 0; t < 2; t++) {
        size_t first = t * (total / 2);
        jobs[t] = (thread_job){.sandbox = sandbox,
                               .code = w->code,
                               .label = METHOD_NAMES[m],
                               .samples = samples + first,
                               .n = t == 0 ? total / 2 : total - total / 2};
    }
    double start = bench_now_ms();
    for (; started < 2; started++) {
        int e = pthread_create(&threads[started], NULL, thread_main, &jobs[started]);
        if (e != 0) {
            fprintf(stderr, "pysandbox-bench: pthread_create: %s\n", strerror(e));
            goto join;
        }
    }
join:
    for (size_t t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    double wall_ms = bench_now_ms() - start;
    if (started < 2 || jobs[0].failed || jobs[1].failed)
        goto out;
    row.n = total;
    row.throughput_per_s = wall_ms > 0 ? (double)total * 1000.0 / wall_ms : 0;
    row.peak_rss_kib =
        jobs[0].peak_rss_kib > jobs[1].peak_rss_kib ? jobs[0].peak_rss_kib : jobs[1].peak_rss_kib;
    bench_fill_percentiles(&row, samples, total);
    if (bench_rows_push(&st->rows, &row) != 0) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    report_progress(&row);
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
        add_note(st, note);
        return;
    }
    json_object_set_new(st->helper_mem, key,
                        json_pack("{s:I, s:I, s:I, s:I}", "pid", (json_int_t)mem.pid, "vm_rss_kib",
                                  (json_int_t)mem.vm_rss_kib, "vm_hwm_kib",
                                  (json_int_t)mem.vm_hwm_kib, "pss_kib", (json_int_t)mem.pss_kib));
}

/*
 * All rows of a pysandbox mode (warm: M_WARM/M_WARM_2T, cold: M_COLD/
 * M_COLD_2T) on one sandbox: one warm-up, the helper's memory, then each
 * selected workload and the 2-thread row. Returns 0 or -1 (printed).
 */
static int run_pysandbox(bench_state *st, psb_mode mode) {
    method single = mode == PSB_MODE_WARM ? M_WARM : M_COLD;
    method threaded = mode == PSB_MODE_WARM ? M_WARM_2T : M_COLD_2T;
    const char *key = mode == PSB_MODE_WARM ? "warm" : "cold";
    int do_single = want_method(&st->set, single);
    int do_threaded = want_method(&st->set, threaded) && want_workload(&st->set, THREAD_WORKLOAD);
    psb_error err = {.code = PSB_OK};
    psb_config *config = NULL;
    psb_sandbox *sandbox = NULL;
    double ms = 0;
    uint64_t rss = 0;
    int rc = -1, any = 0;

    for (size_t i = 0; i < N_WORKLOADS && do_single; i++)
        if (want_workload(&st->set, &WORKLOADS[i]) &&
            (!WORKLOADS[i].warm_only || mode == PSB_MODE_WARM))
            any = 1;
    if (!any && !do_threaded)
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
    if (exec_once(sandbox, THREAD_WORKLOAD->code, NULL, key, &ms, &rss) != 0)
        goto out;
    json_object_set_new(st->helper_mem, key, json_object());
    record_helper_mem(st, key);
    json_t *entry = json_object_get(st->helper_mem, key);
    if (entry != NULL)
        json_object_set_new(entry, "sandbox_start_ms", json_real((double)(long)startup_ms));

    for (size_t i = 0; i < N_WORKLOADS && do_single; i++) {
        const workload *w = &WORKLOADS[i];
        if (!want_workload(&st->set, w) || (w->warm_only && mode != PSB_MODE_WARM))
            continue;
        if (psb_row(st, sandbox, w, single,
                    mode == PSB_MODE_WARM ? st->set.n_warm : st->set.n_other) != 0)
            goto out;
    }
    if (do_threaded && threaded_row(st, sandbox, threaded, st->set.n_threaded) != 0)
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

/* Builds the argv of a baseline: [bwrap ... ] python -I -c CODE. */
static int baseline_argv(const bench_state *st, method m, const char *code, bench_argv *argv) {
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
    if (m == M_BWRAP) {
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
static int baseline_row(bench_state *st, const workload *w, method m, size_t n) {
    bench_argv argv = {0};
    double *samples = calloc(n, sizeof *samples);
    bench_row row = row_for(w, m);
    char label[96];
    uint64_t rss = 0;
    double ms = 0;
    int rc = -1;

    snprintf(label, sizeof label, "%s/%s", w->name, METHOD_NAMES[m]);
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
    row.peak_rss_known = m != M_BWRAP;
    bench_fill_percentiles(&row, samples, n);
    if (bench_rows_push(&st->rows, &row) != 0) {
        fprintf(stderr, "pysandbox-bench: out of memory\n");
        goto out;
    }
    report_progress(&row);
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
        add_note(st, "bwrap: not found on PATH; method skipped");
        return;
    }
    if (baseline_argv(st, M_BWRAP, "pass", &argv) != 0 ||
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
        add_note(st, note);
        free(st->bwrap_path);
        st->bwrap_path = NULL;
    }
    bench_argv_free(&argv);
}

/* Rows of the baselines (subprocess, bwrap). Returns 0 or -1 (printed). */
static int run_baselines(bench_state *st) {
    int sub = want_method(&st->set, M_SUBPROCESS);
    int bw = want_method(&st->set, M_BWRAP);

    if (!sub && !bw)
        return 0;
    if (bw)
        probe_bwrap(st);
    for (method m = M_SUBPROCESS; m <= M_BWRAP; m++) {
        if (!want_method(&st->set, m) || (m == M_BWRAP && st->bwrap_path == NULL))
            continue;
        for (size_t i = 0; i < N_WORKLOADS; i++) {
            const workload *w = &WORKLOADS[i];
            if (!want_workload(&st->set, w) || w->warm_only)
                continue;
            if (baseline_row(st, w, m, st->set.n_other) != 0)
                return -1;
        }
    }
    return 0;
}

/* nftw callback: removes one entry of the scratch tree. */
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Creates the baselines' scratch dir. Returns 0 or -1 (printed). */
static int make_scratch(bench_state *st) {
    snprintf(st->tmp_root, sizeof st->tmp_root, "/tmp/psb-bench-XXXXXX");
    if (mkdtemp(st->tmp_root) == NULL) {
        fprintf(stderr, "pysandbox-bench: mkdtemp: %s\n", strerror(errno));
        st->tmp_root[0] = '\0';
        return -1;
    }
    snprintf(st->work_dir, sizeof st->work_dir, "%s/work", st->tmp_root);
    snprintf(st->err_path, sizeof st->err_path, "%s/stderr.txt", st->tmp_root);
    if (mkdir(st->work_dir, 0700) != 0) {
        fprintf(stderr, "pysandbox-bench: mkdir %s: %s\n", st->work_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Uses the pysandbox-helper next to this executable unless $PYSANDBOX_HELPER
 * says otherwise. Sets st->helper_path (NULL: leave it to the library).
 */
static void find_helper(bench_state *st) {
    const char *env = getenv("PYSANDBOX_HELPER");
    char exe[PATH_MAX], candidate[PATH_MAX + 32];

    if (env != NULL && env[0] != '\0')
        return;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(candidate, sizeof candidate, "%s/pysandbox-helper", exe);
    if (access(candidate, X_OK) == 0)
        st->helper_path = strdup(candidate);
}

/* Adds a note on whether converting the large list stayed linear. */
static void note_linearity(bench_state *st) {
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
    add_note(st, note);
}

/* Prints the table, the machine line, the helper's memory and the notes. */
static void print_report(FILE *out, const bench_state *st, const json_t *machine) {
    const char *order[N_WORKLOADS];
    for (size_t i = 0; i < N_WORKLOADS; i++)
        order[i] = WORKLOADS[i].name;

    fprintf(out, "machine: %s, %lld cores, %lld MiB, %s, Python %s\n",
            json_string_value(json_object_get(machine, "cpu_model")),
            (long long)json_integer_value(json_object_get(machine, "cores")),
            (long long)json_integer_value(json_object_get(machine, "memory_kib")) / 1024,
            json_string_value(json_object_get(machine, "kernel")),
            json_string_value(json_object_get(machine, "python_version")));
    fprintf(out,
            "timed executions: pysandbox-warm %zu, others %zu, 2-thread rows %zu "
            "(after one warm-up each)\n\n",
            st->set.n_warm, st->set.n_other, st->set.n_threaded);
    bench_print_table(out, &st->rows, order, N_WORKLOADS, TABLE_METHOD_ORDER, M__COUNT);

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

int main(int argc, char **argv) {
    bench_state st;
    json_t *machine = NULL, *doc = NULL, *rows_json = NULL;
    int rc = 1;

    memset(&st, 0, sizeof st);
    st.set.n = -1;
    int parsed = parse_args(argc, argv, &st.set);
    if (parsed != 0)
        return parsed == 1 ? 0 : 2;

    st.helper_mem = json_object();
    st.notes = json_array();
    if (st.helper_mem == NULL || st.notes == NULL)
        goto out;
    find_helper(&st);
    if (make_scratch(&st) != 0)
        goto out;
    machine = bench_machine_info(PSB_PYTHON_EXECUTABLE);
    if (machine == NULL)
        goto out;
    json_object_set_new(machine, "pysandbox_version", json_string(PSB_VERSION_STRING));

    /*
     * Baselines first: a process started with posix_spawn (CLONE_VM) inherits
     * the spawner's RSS high-water mark at exec, so ru_maxrss would never be
     * below this process's own peak, which grows once large results came back.
     */
    if (run_baselines(&st) != 0 || run_pysandbox(&st, PSB_MODE_WARM) != 0 ||
        run_pysandbox(&st, PSB_MODE_COLD) != 0)
        goto out;
    note_linearity(&st);
    if (json_object_get(st.helper_mem, "warm") != NULL)
        add_note(&st, "peak RSS of a warm child counts the pages it shares copy-on-write "
                      "with the helper");
    if (st.bwrap_path != NULL && want_method(&st.set, M_BWRAP))
        add_note(&st, "bwrap: peak RSS not measurable with this command (bwrap's init "
                      "reaps Python inside the pid namespace, wait4 sees only bwrap); "
                      "it runs the same interpreter as the subprocess rows");

    if (st.set.json) {
        rows_json = bench_rows_json(&st.rows);
        doc = json_pack("{s:O, s:o, s:O, s:O, s:{s:I, s:I, s:I, s:b}}", "machine", machine, "rows",
                        rows_json, "helper_rss_kib", st.helper_mem, "notes", st.notes, "settings",
                        "n_pysandbox_warm", (json_int_t)st.set.n_warm, "n_other",
                        (json_int_t)st.set.n_other, "n_2threads", (json_int_t)st.set.n_threaded,
                        "quick", st.set.quick);
        rows_json = NULL; /* stolen by json_pack, even on failure */
        if (doc == NULL || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) != 0)
            goto out;
        fputc('\n', stdout);
        print_report(stderr, &st, machine);
    } else {
        print_report(stdout, &st, machine);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    json_decref(doc);
    json_decref(rows_json);
    json_decref(machine);
    json_decref(st.helper_mem);
    json_decref(st.notes);
    if (st.tmp_root[0] != '\0')
        nftw(st.tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    bench_rows_free(&st.rows);
    free(st.helper_path);
    free(st.bwrap_path);
    return rc;
}
