/*
 * bench/bench.c - pysandbox-bench: times the same Python workloads through
 * pysandbox (warm and cold), a fresh python3.11 per execution and the same
 * under bubblewrap, and prints a table or one JSON object (--json). This
 * file owns the run: its scratch dir, the helper it uses, the notes, main().
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
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

void bench_add_note(bench_state *st, const char *text) {
    json_array_append_new(st->notes, json_string(text));
    fprintf(stderr, "pysandbox-bench: note: %s\n", text);
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
 * says otherwise, and the pysandbox CLI next to it for the one-shot rows.
 * Sets st->helper_path (NULL: leave it to the library) and st->cli_path.
 */
static void find_helper(bench_state *st) {
    const char *env = getenv("PYSANDBOX_HELPER");
    char exe[PATH_MAX], candidate[PATH_MAX + 32];

    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(candidate, sizeof candidate, "%s/pysandbox-helper", exe);
    if ((env == NULL || env[0] == '\0') && access(candidate, X_OK) == 0)
        st->helper_path = strdup(candidate);
    snprintf(candidate, sizeof candidate, "%s/pysandbox", exe);
    if (access(candidate, X_OK) == 0)
        st->cli_path = strdup(candidate);
}

/* The report as one JSON object on stdout, the table on stderr. 0 or -1. */
static int print_json(const bench_state *st, json_t *machine) {
    const bench_settings *set = &st->set;
    json_t *doc = json_pack(
        "{s:O, s:o, s:o, s:O, s:O, s:O, s:O, s:O, s:{s:I, s:I, s:I, s:b}}", "machine", machine,
        "rows", bench_rows_json(&st->rows), "start_rows", bench_start_json(&st->start_rows),
        "snapshot_rows", st->snapshot_rows, "speed_rows", st->speed_rows, "speed_memory",
        st->speed_memory, "helper_rss_kib", st->helper_mem, "notes", st->notes, "settings",
        "n_pysandbox_warm", (json_int_t)set->n_warm, "n_other", (json_int_t)set->n_other,
        "n_2threads", (json_int_t)set->n_threaded, "quick", set->quick);
    int rc = doc != NULL && json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) == 0
                 ? 0
                 : -1;
    json_decref(doc);
    if (rc == 0)
        fputc('\n', stdout);
    bench_print_report(stderr, st, machine);
    return rc;
}

int main(int argc, char **argv) {
    bench_state st;
    json_t *machine = NULL;
    int rc = 1;

    memset(&st, 0, sizeof st);
    st.set.n = -1;
    int parsed = bench_parse_args(argc, argv, &st.set);
    if (parsed != 0)
        return parsed == 1 ? 0 : 2;

    st.helper_mem = json_object();
    st.notes = json_array();
    st.snapshot_rows = json_array();
    st.speed_rows = json_array();
    st.speed_memory = json_object();
    if (st.helper_mem == NULL || st.notes == NULL || st.snapshot_rows == NULL ||
        st.speed_rows == NULL || st.speed_memory == NULL)
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
    int only = st.set.start_only || st.set.speed_only;
    int unfiltered = st.set.n_workload_filters == 0 && st.set.n_method_filters == 0;
    if (!only && (bench_run_baselines(&st) != 0 || bench_run_pysandbox(&st, PSB_MODE_WARM) != 0 ||
                  bench_run_pysandbox(&st, PSB_MODE_COLD) != 0))
        goto out;
    /* The filters name the other rows' workloads and methods; start rows run unfiltered. */
    if ((st.set.start_only || (!only && unfiltered)) && bench_run_start(&st) != 0)
        goto out;
    if ((st.set.speed_only || (!only && unfiltered)) &&
        (bench_run_speed(&st) != 0 || bench_run_layers(&st) != 0 || bench_run_external(&st) != 0))
        goto out;
    bench_note_linearity(&st);
    if (json_object_get(st.helper_mem, "warm") != NULL)
        bench_add_note(&st, "peak RSS of a warm child counts the pages it shares copy-on-write "
                            "with the helper");
    if (st.bwrap_path != NULL && bench_want_method(&st.set, BENCH_M_BWRAP))
        bench_add_note(&st, "bwrap: peak RSS not measurable with this command (bwrap's init "
                            "reaps Python inside the pid namespace, wait4 sees only bwrap); "
                            "it runs the same interpreter as the subprocess rows");

    if (st.set.json && print_json(&st, machine) != 0)
        goto out;
    if (!st.set.json)
        bench_print_report(stdout, &st, machine);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    json_decref(machine);
    json_decref(st.helper_mem);
    json_decref(st.snapshot_rows);
    json_decref(st.speed_rows);
    json_decref(st.speed_memory);
    json_decref(st.notes);
    if (st.tmp_root[0] != '\0')
        nftw(st.tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    bench_rows_free(&st.rows);
    bench_rows_free(&st.start_rows);
    free(st.helper_path);
    free(st.cli_path);
    free(st.bwrap_path);
    return rc;
}
