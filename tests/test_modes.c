/*
 * tests/test_modes.c - end to end through the public API: warm and cold
 * modes, the helper's lifecycle (death, respawn, no zombies), the
 * data-science stack, typed results, figures, and files in and out.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "include/pysandbox.h"
#include "tests/suite.h"

static psb_sandbox *new_sandbox(psb_mode mode, const char *policy) {
    psb_error err = {0};
    psb_config *c = psb_config_new(&err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(psb_config_set_mode(c, mode, &err), PSB_OK);
    /* These tests compare the warm state with the cold one: wait for it. */
    ck_assert_int_eq(psb_config_set_early_start(c, 0, &err), PSB_OK);
    if (policy)
        ck_assert_int_eq(psb_config_set_policy(c, policy, &err), PSB_OK);
    psb_sandbox *sb = NULL;
    ck_assert_msg(psb_sandbox_new(c, &sb, &err) == PSB_OK, "sandbox: %s", err.message);
    psb_config_free(c);
    return sb;
}

static psb_outcome *run(psb_sandbox *sb, const char *code, const psb_exec_options *o) {
    psb_error err = {0};
    psb_outcome *out = NULL;
    ck_assert_msg(psb_exec(sb, code, strlen(code), o, &out, &err) == PSB_OK, "exec: %s",
                  err.message);
    return out;
}

/* Runs code that must succeed; returns its result parsed (caller decrefs). */
static json_t *result_of(psb_sandbox *sb, const char *code, const psb_exec_options *o) {
    psb_outcome *out = run(sb, code, o);
    ck_assert_msg(psb_outcome_ok(out), "%s failed: %s: %s\n%s", code,
                  psb_error_kind_name(psb_outcome_error_kind(out)),
                  psb_outcome_error_message(out) ? psb_outcome_error_message(out) : "",
                  psb_outcome_error_traceback(out) ? psb_outcome_error_traceback(out) : "");
    json_t *r = json_loads(psb_outcome_result_json(out), JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(r);
    psb_outcome_free(out);
    return r;
}

/*
 * Whether /proc/PID/stat (PID a /proc entry's name) is a live
 * pysandbox-helper whose parent is this process. The kernel cuts the comm to
 * 15 bytes: "pysandbox-helpe".
 */
static bool own_helper(const char *pid) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *rp = strrchr(buf, ')');
    int ppid = 0;
    char state;
    return strstr(buf, "(pysandbox-helpe") && rp && sscanf(rp + 2, "%c %d", &state, &ppid) == 2 &&
           ppid == getpid() && state != 'Z';
}

/* The pysandbox-helper processes that are children of this process. */
static int helper_pids(pid_t *pids, int max) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)) && n < max)
        if (own_helper(e->d_name))
            pids[n++] = atoi(e->d_name);
    if (d)
        closedir(d);
    return n;
}

/*
 * A pidfd for a helper that helper_pids() found, checked again once open:
 * from then on it names that process, so a signal sent through it cannot
 * reach another process that got the pid after the library reaped the
 * helper. -1 when pid is no longer this process's helper.
 */
static int open_helper(pid_t pid) {
    char name[32];
    snprintf(name, sizeof name, "%d", (int)pid);
    int fd = pidfd_open(pid, 0);
    if (fd >= 0 && !own_helper(name)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

START_TEST(warm_and_cold_differ_where_they_should) {
    psb_sandbox *warm = new_sandbox(PSB_MODE_WARM, NULL);
    psb_sandbox *cold = new_sandbox(PSB_MODE_COLD, NULL);
    const char *code = "import sys; result = ['numpy' in sys.modules, 'pandas' in sys.modules]";
    json_t *w = result_of(warm, code, NULL), *c = result_of(cold, code, NULL);
    ck_assert(json_is_true(json_array_get(w, 0)) && json_is_true(json_array_get(w, 1)));
    ck_assert(json_is_false(json_array_get(c, 0)) && json_is_false(json_array_get(c, 1)));
    json_decref(w);
    json_decref(c);
    /* The same confinement in both modes. */
    const char *probe = "import os\n"
                        "caps = [l.split()[1] for l in open('/proc/self/status') if "
                        "l.startswith('CapEff')]\n"
                        "result = os.getuid()\n";
    for (int i = 0; i < 2; i++) {
        psb_outcome *o = run(i ? cold : warm, probe, NULL);
        ck_assert_int_eq(psb_outcome_error_kind(o), PSB_KIND_DENIED); /* /proc is not readable */
        psb_outcome_free(o);
        json_t *uid = result_of(i ? cold : warm, "import os; result = os.getuid()", NULL);
        ck_assert_int_ne(json_integer_value(uid), 0);
        json_decref(uid);
        psb_outcome *s = run(i ? cold : warm, "import socket", NULL);
        ck_assert_int_eq(psb_outcome_error_kind(s), PSB_KIND_IMPORT_DENIED);
        psb_outcome_free(s);
    }
    psb_sandbox_free(warm);
    psb_sandbox_free(cold);
}
END_TEST

START_TEST(random_streams_are_independent) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    const char *code = "import random, numpy as np\n"
                       "result = [random.random(), float(np.random.random()),\n"
                       "          float(np.random.default_rng().random())]\n";
    json_t *a = result_of(sb, code, NULL), *b = result_of(sb, code, NULL);
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(json_real_value(json_array_get(a, i)) !=
                          json_real_value(json_array_get(b, i)),
                      "generator %zu repeated its stream across executions", i);
    json_decref(a);
    json_decref(b);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(state_does_not_persist) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    json_t *r = result_of(sb,
                          "import os, builtins, numpy\n"
                          "builtins.leak = 1; numpy.leak = 2; os.environ['LEAK'] = '3'\n"
                          "open('left.txt', 'w').write('x')\n"
                          "result = 1\n",
                          NULL);
    json_decref(r);
    r = result_of(
        sb,
        "import os, builtins, numpy\n"
        "result = [hasattr(builtins, 'leak'), hasattr(numpy, 'leak'),\n"
        "          'LEAK' in os.environ, os.path.exists('left.txt'), 'inputs' in dir()]\n",
        NULL);
    ck_assert(json_is_false(json_array_get(r, 0)));
    ck_assert(json_is_false(json_array_get(r, 1)));
    ck_assert(json_is_false(json_array_get(r, 2)));
    ck_assert(json_is_false(json_array_get(r, 3)));
    ck_assert(json_is_true(json_array_get(r, 4)));
    json_decref(r);
    psb_sandbox_free(sb);
}
END_TEST

struct slow_run {
    psb_sandbox *sb;
    psb_outcome *out;
    psb_status st;
};

static void *slow_main(void *arg) {
    struct slow_run *r = arg;
    psb_error err = {0};
    const char *code = "while True: pass";
    r->st = psb_exec(r->sb, code, strlen(code), NULL, &r->out, &err);
    return NULL;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a child of helper has used 200 ms of CPU (a spare uses a few ms to get ready). */
static bool busy_child_of(pid_t helper) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool busy = false;
    while (d && (e = readdir(d)) && !busy) {
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        unsigned long utime = 0;
        /* After the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
         * cmajflt utime. */
        if (rp &&
            sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu", &ppid, &utime) == 2 &&
            ppid == helper && utime * 1000 / (unsigned long)sysconf(_SC_CLK_TCK) >= 200)
            busy = true;
    }
    if (d)
        closedir(d);
    return busy;
}

/*
 * Waits until the execution runs in a child of helper: it has used 200 ms of
 * CPU, which no spare does. CPU time has no event to wait for, so /proc is
 * read again every 10 ms; in between, the wait is on the helper's pidfd, so
 * a helper that dies first ends it at once instead of running out a count of
 * sleeps. NULL once the child is busy, else why not.
 */
static const char *wait_busy_child(pid_t helper, int helper_fd) {
    long long deadline = now_ms() + 60000;
    for (;;) {
        if (busy_child_of(helper))
            return NULL;
        struct pollfd p = {.fd = helper_fd, .events = POLLIN};
        int rc = poll(&p, 1, 10);
        if (rc > 0)
            return "the helper exited before the execution was running";
        if (rc < 0 && errno != EINTR)
            return "poll on the helper's pidfd failed";
        if (now_ms() >= deadline)
            return "no child of the helper was busy within 60 s";
    }
}

START_TEST(helper_death_is_an_internal_outcome_and_respawns) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    json_t *r = result_of(sb, "result = 1", NULL);
    json_decref(r);
    pid_t pids[4];
    ck_assert_int_eq(helper_pids(pids, 4), 1);
    int helper_fd = open_helper(pids[0]);
    ck_assert_msg(helper_fd >= 0, "pidfd of helper %d: %s", (int)pids[0], strerror(errno));
    struct slow_run slow = {.sb = sb};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, slow_main, &slow), 0);
    /* Killed while the execution runs, not before it reached the helper. */
    const char *not_busy = wait_busy_child(pids[0], helper_fd);
    ck_assert_msg(not_busy == NULL, "%s", not_busy);
    ck_assert_int_eq(pidfd_send_signal(helper_fd, SIGKILL, NULL, 0), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(slow.st, PSB_OK);
    ck_assert_int_eq(psb_outcome_error_kind(slow.out), PSB_KIND_INTERNAL);
    ck_assert_ptr_nonnull(strstr(psb_outcome_error_message(slow.out), "helper"));
    psb_outcome_free(slow.out);
    /* psb_exec stopped the dead helper before it returned: its pidfd says it is gone. */
    struct pollfd gone = {.fd = helper_fd, .events = POLLIN};
    ck_assert_int_eq(poll(&gone, 1, 0), 1);
    close(helper_fd);
    /* The next execution starts a new helper; the old one is reaped. */
    r = result_of(sb, "result = 2", NULL);
    ck_assert_int_eq(json_integer_value(r), 2);
    json_decref(r);
    pid_t now[4];
    ck_assert_int_eq(helper_pids(now, 4), 1);
    ck_assert_int_ne(now[0], pids[0]);
    ck_assert_int_eq(waitpid(pids[0], NULL, WNOHANG), -1); /* already reaped */
    psb_sandbox_free(sb);
    ck_assert_int_eq(helper_pids(now, 4), 0); /* freeing reaps the helper */
}
END_TEST

START_TEST(data_science_stack_under_both_policies) {
    const char *policies[] = {"default", "data-science"};
    const char *code =
        "import io\n"
        "import numpy as np, pandas as pd\n"
        "import matplotlib.pyplot as plt\n"
        "rng = np.random.default_rng(7)\n"
        "a = rng.normal(size=(50, 3))\n"
        "df = pd.DataFrame(a, columns=list('xyz'))\n"
        "df['g'] = np.arange(50) % 5\n"
        "left = df.groupby('g').mean()\n"
        "right = pd.DataFrame({'g': range(5), 'label': list('abcde')})\n"
        "merged = left.reset_index().merge(right, on='g')\n"
        "pivot = df.pivot_table(index='g', values='x', aggfunc='sum')\n"
        "csv = pd.read_csv('in.csv')\n"
        "plt.plot(df.x.cumsum()); plt.title('walk')\n"
        "result = {'rows': len(merged), 'cols': list(merged.columns), 'pivot': len(pivot),\n"
        "          'csv_sum': int(csv.b.sum()), 'inv': float(np.linalg.inv(np.eye(3)).trace())}\n";
    for (int i = 0; i < 2; i++) {
        psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, policies[i]);
        psb_error err = {0};
        psb_exec_options *o = psb_exec_options_new(&err);
        ck_assert_int_eq(psb_exec_options_add_file(o, "in.csv", "a,b\n1,2\n3,4\n", 12, &err),
                         PSB_OK);
        psb_outcome *out = run(sb, code, o);
        ck_assert_msg(psb_outcome_ok(out), "%s: %s", policies[i],
                      psb_outcome_error_traceback(out) ? psb_outcome_error_traceback(out) : "");
        json_t *r = json_loads(psb_outcome_result_json(out), 0, NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "rows")), 5);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "csv_sum")), 6);
        ck_assert(json_real_value(json_object_get(r, "inv")) == 3.0);
        ck_assert_uint_eq(psb_outcome_figure_count(out), 1);
        json_decref(r);
        psb_outcome_free(out);
        /* The stack works, and user code is still refused what the policy refuses. */
        out = run(sb, "import subprocess", NULL);
        ck_assert_int_eq(psb_outcome_error_kind(out), PSB_KIND_IMPORT_DENIED);
        psb_outcome_free(out);
        psb_exec_options_free(o);
        psb_sandbox_free(sb);
    }
}
END_TEST

START_TEST(typed_results_round_trip) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    json_t *r = result_of(
        sb,
        "import numpy as np, pandas as pd, datetime, decimal, pathlib, dataclasses\n"
        "@dataclasses.dataclass\n"
        "class P:\n"
        "    x: int\n"
        "df = pd.DataFrame({'a': [1, 2], 'c': pd.Categorical(['x', 'y'])}, index=['r1', 'r2'])\n"
        "result = {'i64': np.int64(2**62), 'u64': np.uint64(2**64 - 1), 'b': np.bool_(True),\n"
        "  'nan': np.float64('nan'), 'arr': np.arange(4, dtype=np.int32).reshape(2, 2),\n"
        "  'dt64': np.datetime64('2024-01-02T03:04'), 'df': df, 's': df['a'],\n"
        "  'ts': pd.Timestamp('2024-01-01', tz='UTC'), 'td': pd.Timedelta('90s'), 'nat': pd.NaT,\n"
        "  'cat': pd.Categorical(['a', 'b', 'a']), 'date': datetime.date(2024, 1, 2),\n"
        "  'dec': decimal.Decimal('1.10'), 'bytes': b'\\x00\\xff', 'path': pathlib.Path('/x'),\n"
        "  'dc': P(3), 'big': 2**100, 'inf': float('-inf'), 'set': {1}}\n",
        NULL);
    json_t *expected = json_loads(
        "{\"i64\": 4611686018427387904, \"u64\": {\"$type\": \"int\", \"value\": "
        "\"18446744073709551615\"}, \"b\": true, \"nan\": {\"$type\": \"float\", \"value\": "
        "\"nan\"}, \"arr\": {\"$type\": \"ndarray\", \"dtype\": \"int32\", \"shape\": [2, 2], "
        "\"data\": [[0, 1], [2, 3]]}, \"dt64\": {\"$type\": \"datetime\", \"value\": "
        "\"2024-01-02T03:04\"}, \"df\": {\"$type\": \"DataFrame\", \"columns\": [\"a\", \"c\"], "
        "\"index\": [\"r1\", \"r2\"], \"data\": [[1, \"x\"], [2, \"y\"]], \"dtypes\": {\"a\": "
        "\"int64\", \"c\": \"category\"}}, \"s\": {\"$type\": \"Series\", \"name\": \"a\", "
        "\"dtype\": \"int64\", \"index\": [\"r1\", \"r2\"], \"data\": [1, 2]}, \"ts\": "
        "{\"$type\": \"datetime\", \"value\": \"2024-01-01T00:00:00+00:00\"}, \"td\": {\"$type\": "
        "\"timedelta\", \"seconds\": 90.0}, \"nat\": null, \"cat\": {\"$type\": \"Categorical\", "
        "\"categories\": [\"a\", \"b\"], \"codes\": [0, 1, 0], \"ordered\": false}, \"date\": "
        "{\"$type\": \"date\", \"value\": \"2024-01-02\"}, \"dec\": {\"$type\": \"decimal\", "
        "\"value\": \"1.10\"}, \"bytes\": {\"$type\": \"bytes\", \"base64\": \"AP8=\"}, \"path\": "
        "{\"$type\": \"path\", \"value\": \"/x\"}, \"dc\": {\"$type\": \"dataclass\", \"class\": "
        "\"P\", \"fields\": {\"x\": 3}}, \"big\": {\"$type\": \"int\", \"value\": "
        "\"1267650600228229401496703205376\"}, \"inf\": {\"$type\": \"float\", \"value\": "
        "\"-inf\"}, \"set\": [1]}",
        0, NULL);
    ck_assert_ptr_nonnull(expected);
    const char *key;
    json_t *want;
    json_object_foreach(expected, key, want) {
        char *got = json_dumps(json_object_get(r, key), JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *exp = json_dumps(want, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        ck_assert_msg(json_equal(json_object_get(r, key), want), "%s: got %s, want %s", key, got,
                      exp);
        free(got);
        free(exp);
    }
    json_decref(expected);
    json_decref(r);
    psb_sandbox_free(sb);
}
END_TEST

static unsigned be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

START_TEST(figures_and_files_come_back) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    psb_error err = {0};
    psb_exec_options *o = psb_exec_options_new(&err);
    ck_assert_int_eq(psb_exec_options_add_file(o, "data/in.txt", "hello", 5, &err), PSB_OK);
    ck_assert_int_eq(psb_exec_options_add_file(o, "../escape", "x", 1, &err), PSB_EINVAL);
    ck_assert_int_eq(psb_exec_options_add_file(o, "/abs", "x", 1, &err), PSB_EINVAL);
    ck_assert_int_eq(psb_exec_options_add_file(o, "a//b", "x", 1, &err), PSB_EINVAL);
    const char *code =
        "import os, matplotlib.pyplot as plt\n"
        "text = open('data/in.txt').read()\n"
        "try:\n"
        "    open('data/in.txt', 'w').write('changed')\n"
        "    wrote_input = True\n"
        "except OSError:\n"
        "    wrote_input = False\n"
        "plt.figure(figsize=(4, 3), dpi=50); plt.plot([1, 2]); plt.show(); plt.close('all')\n"
        "plt.figure(figsize=(2, 2), dpi=50); plt.bar(['a'], [1])\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/b.txt', 'w').write(text.upper())\n"
        "open('a.txt', 'w').write('A')\n"
        "os.symlink('/etc/passwd', 'link')\n"
        "result = wrote_input\n";
    psb_outcome *out = run(sb, code, o);
    ck_assert_msg(psb_outcome_ok(out), "%s", psb_outcome_error_message(out));
    ck_assert_str_eq(psb_outcome_result_json(out), "false"); /* inputs are read-only */
    ck_assert_uint_eq(psb_outcome_figure_count(out), 2);
    unsigned sizes[2][2] = {{200, 150}, {100, 100}};
    for (size_t i = 0; i < 2; i++) {
        const void *data;
        size_t len;
        const char *mime;
        unsigned w, h;
        ck_assert_int_eq(psb_outcome_figure(out, i, &data, &len, &mime, &w, &h), 0);
        const unsigned char *png = data;
        ck_assert_str_eq(mime, "image/png");
        ck_assert(len > 24 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
        ck_assert_uint_eq(be32(png + 16), sizes[i][0]);
        ck_assert_uint_eq(be32(png + 20), sizes[i][1]);
        ck_assert_uint_eq(w, sizes[i][0]);
        ck_assert_uint_eq(h, sizes[i][1]);
    }
    ck_assert_int_eq(psb_outcome_figure(out, 2, NULL, NULL, NULL, NULL, NULL), -1);
    /* Regular files the code wrote, sorted; not the unchanged input, not the symlink. */
    ck_assert_uint_eq(psb_outcome_file_count(out), 2);
    const char *name;
    const void *data;
    size_t len;
    ck_assert_int_eq(psb_outcome_file(out, 0, &name, &data, &len), 0);
    ck_assert_str_eq(name, "a.txt");
    ck_assert(len == 1 && memcmp(data, "A", 1) == 0);
    ck_assert_int_eq(psb_outcome_file(out, 1, &name, &data, &len), 0);
    ck_assert_str_eq(name, "out/b.txt");
    ck_assert(len == 5 && memcmp(data, "HELLO", 5) == 0);
    psb_outcome_free(out);

    /* Over the files cap: output_limit. */
    ck_assert_int_eq(psb_exec_options_set_files_limit_bytes(o, 1000, &err), PSB_OK);
    out = run(sb, "open('big.bin', 'wb').write(b'x' * 5000)", o);
    ck_assert_int_eq(psb_outcome_error_kind(out), PSB_KIND_OUTPUT_LIMIT);
    psb_outcome_free(out);
    /* Over the figure cap: figures dropped, flagged. */
    psb_exec_options *small = psb_exec_options_new(&err);
    ck_assert_int_eq(psb_exec_options_set_figures_limit_bytes(small, 100, &err), PSB_OK);
    out = run(sb, "import matplotlib.pyplot as plt; plt.plot([1, 2]); result = 1", small);
    ck_assert(psb_outcome_ok(out));
    ck_assert_uint_eq(psb_outcome_figure_count(out), 0);
    ck_assert_int_eq(psb_outcome_figures_truncated(out), 1);
    psb_outcome_free(out);
    psb_exec_options_free(small);
    psb_exec_options_free(o);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(memory_limit_counts_what_the_code_maps) {
#ifdef PSB_SANITIZE
    printf("memory_limit_counts_what_the_code_maps: skipped under AddressSanitizer (its shadow "
           "memory does not fit an RLIMIT_AS)\n");
    return;
#endif
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    psb_error err = {0};
    psb_exec_options *o = psb_exec_options_new(&err);
    ck_assert_int_eq(psb_exec_options_set_memory_limit_mib(o, 128, &err), PSB_OK);
    /* Warm: the preloaded libraries do not count; 100 MiB of 128 fits. */
    json_t *r = result_of(sb, "x = bytearray(100 * 1024 * 1024); result = len(x) >> 20", o);
    ck_assert_int_eq(json_integer_value(r), 100);
    json_decref(r);
    psb_outcome *out = run(sb, "x = bytearray(200 * 1024 * 1024)", o);
    ck_assert_int_eq(psb_outcome_error_kind(out), PSB_KIND_MEMORY_LIMIT);
    ck_assert_ptr_nonnull(strstr(psb_outcome_error_message(out), "128 MiB"));
    psb_outcome_free(out);
    psb_exec_options_free(o);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(network_policy_opens_the_network) {
    /* A loopback listener of the host; reachable only when the policy says network. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    char code[256];
    snprintf(code, sizeof code,
             "import socket\n"
             "try:\n"
             "    socket.create_connection(('127.0.0.1', %d), timeout=3); result = 'connected'\n"
             "except OSError as e:\n"
             "    result = e.strerror\n",
             ntohs(a.sin_port));
    const char *policies[] = {"{\"network\": true, \"imports\": {\"default\": \"allow\"}}",
                              "{\"imports\": {\"default\": \"allow\"}}"};
    for (int i = 0; i < 2; i++) {
        psb_error err = {0};
        psb_config *c = psb_config_new(&err);
        ck_assert_int_eq(psb_config_set_policy_json(c, policies[i], &err), PSB_OK);
        psb_sandbox *sb = NULL;
        ck_assert_int_eq(psb_sandbox_new(c, &sb, &err), PSB_OK);
        psb_config_free(c);
        json_t *r = result_of(sb, code, NULL);
        if (i == 0) {
            ck_assert_str_eq(json_string_value(r), "connected");
            int conn = accept(lfd, NULL, NULL);
            ck_assert_int_ge(conn, 0);
            close(conn);
        } else {
            ck_assert_msg(strcmp(json_string_value(r), "connected") != 0, "network off, yet %s",
                          json_string_value(r));
        }
        json_decref(r);
        psb_sandbox_free(sb);
    }
    close(lfd);
}
END_TEST

START_TEST(thread_bomb_is_capped) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    json_t *r =
        result_of(sb,
                  "import threading, time\n"
                  "threading.stack_size(65536)\n"
                  "n = 0\n"
                  "try:\n"
                  "    for i in range(20000):\n"
                  "        t = threading.Thread(target=time.sleep, args=(3,), daemon=True)\n"
                  "        t.start(); n += 1\n"
                  "except RuntimeError:\n"
                  "    pass\n"
                  "result = n\n",
                  NULL);
    /* 64 tasks per execution (the pids cgroup), or the per-uid backstop of 1024. */
    ck_assert_msg(json_integer_value(r) > 0 && json_integer_value(r) < 1024, "started %lld threads",
                  (long long)json_integer_value(r));
    printf("thread bomb: stopped after %lld threads\n", (long long)json_integer_value(r));
    json_decref(r);
    /* Ordinary thread use still works. */
    r = result_of(sb,
                  "import concurrent.futures as cf\n"
                  "with cf.ThreadPoolExecutor(8) as ex:\n"
                  "    result = sum(ex.map(lambda x: x * x, range(100)))\n",
                  NULL);
    ck_assert_int_eq(json_integer_value(r), 328350);
    json_decref(r);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(bad_config_is_refused) {
    psb_error err = {0};
    psb_config *c = psb_config_new(&err);
    ck_assert_int_eq(psb_config_set_mode(c, (psb_mode)7, &err), PSB_EINVAL);
    const char *bad[] = {"numpy", "no such"};
    err.code = PSB_OK;
    ck_assert_int_eq(psb_config_set_preload(c, bad, 2, &err), PSB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "preload[1]"));
    /* A module that does not exist fails the sandbox's start, clearly. */
    const char *missing[] = {"no_such_module_xyz"};
    ck_assert_int_eq(psb_config_set_preload(c, missing, 1, &err), PSB_OK);
    psb_sandbox *sb = NULL;
    err.code = PSB_OK;
    ck_assert_int_eq(psb_sandbox_new(c, &sb, &err), PSB_EHELPER);
    ck_assert_ptr_nonnull(strstr(err.message, "no_such_module_xyz"));
    ck_assert_ptr_null(sb);
    /* A policy requiring a layer is honoured (this machine has them all). */
    ck_assert_int_eq(psb_config_set_preload(c, NULL, 0, &err), PSB_OK);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(psb_config_set_policy_json(
                         c, "{\"require\": [\"seccomp\", \"landlock\", \"warp-drive\"]}", &err),
                     PSB_EPOLICY);
    ck_assert_ptr_nonnull(strstr(err.message, "policy.require[2]"));
    psb_config_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("modes");
    TCase *tc = psb_tcase_create("modes");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, warm_and_cold_differ_where_they_should);
    tcase_add_test(tc, random_streams_are_independent);
    tcase_add_test(tc, state_does_not_persist);
    tcase_add_test(tc, data_science_stack_under_both_policies);
    tcase_add_test(tc, typed_results_round_trip);
    tcase_add_test(tc, figures_and_files_come_back);
    tcase_add_test(tc, memory_limit_counts_what_the_code_maps);
    tcase_add_test(tc, bad_config_is_refused);
    tcase_add_test(tc, network_policy_opens_the_network);
    tcase_add_test(tc, thread_bomb_is_capped);
    suite_add_tcase(s, tc);
    /* Its own case, so that CK_RUN_CASE=helper runs it alone (and in a loop). */
    TCase *helper = psb_tcase_create("helper");
    tcase_set_timeout(helper, 300);
    tcase_add_test(helper, helper_death_is_an_internal_outcome_and_respawns);
    suite_add_tcase(s, helper);
    return psb_test_run(s);
}
