/*
 * tests/test_start.c - end to end through the public API: how a sandbox
 * starts. The start-up cache (matplotlib's font list) is built once and
 * reused, rebuilt when it is corrupt or not trustworthy, and never written
 * by a child; early executions run before the warm state is ready and
 * later ones from it (psb_stats.start); the warm zygote's death does not
 * break the sandbox, and freeing the sandbox ends it.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "include/pysandbox.h"
#include "tests/suite.h"

/* How long a warm state may take to be ready on a loaded 2-core machine. */
#define WARM_WAIT_MS 120000

/* A sandbox: early start or not, with its cache in cache_dir (NULL: none given). */
static psb_sandbox *new_sandbox(bool early, const char *cache_dir, unsigned layers) {
    psb_error err = {0};
    psb_config *c = psb_config_new(&err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(psb_config_set_early_start(c, early, &err), PSB_OK);
    if (cache_dir)
        ck_assert_int_eq(psb_config_set_cache_dir(c, cache_dir, &err), PSB_OK);
    if (layers)
        ck_assert_int_eq(psb_config_set_diagnostic_layers(c, layers, &err), PSB_OK);
    psb_sandbox *sb = NULL;
    ck_assert_msg(psb_sandbox_new(c, &sb, &err) == PSB_OK, "sandbox: %s", err.message);
    psb_config_free(c);
    return sb;
}

/* Runs code (inputs: a JSON object or NULL); the outcome must be ok. */
static psb_outcome *run_ok(psb_sandbox *sb, const char *code, const char *inputs) {
    psb_error err = {0};
    psb_exec_options *o = psb_exec_options_new(&err);
    ck_assert_ptr_nonnull(o);
    if (inputs)
        ck_assert_int_eq(psb_exec_options_set_inputs_json(o, inputs, strlen(inputs), &err), PSB_OK);
    psb_outcome *out = NULL;
    ck_assert_msg(psb_exec(sb, code, strlen(code), o, &out, &err) == PSB_OK, "exec: %s",
                  err.message);
    psb_exec_options_free(o);
    ck_assert_msg(psb_outcome_ok(out), "%s failed: %s: %s\n%s", code,
                  psb_error_kind_name(psb_outcome_error_kind(out)),
                  psb_outcome_error_message(out) ? psb_outcome_error_message(out) : "",
                  psb_outcome_error_traceback(out) ? psb_outcome_error_traceback(out) : "");
    return out;
}

static psb_start start_of(const psb_outcome *out) {
    psb_stats st;
    psb_outcome_stats(out, &st);
    return st.start;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs trivial code until an execution reports start "warm"; false if none did in time. */
static bool wait_warm(psb_sandbox *sb) {
    for (long waited = 0; waited < WARM_WAIT_MS; waited += 100) {
        psb_outcome *out = run_ok(sb, "result = 1", NULL);
        psb_start s = start_of(out);
        psb_outcome_free(out);
        ck_assert_msg(s == PSB_START_WARM || s == PSB_START_EARLY, "start %s", psb_start_name(s));
        if (s == PSB_START_WARM)
            return true;
        sleep_ms(100);
    }
    return false;
}

/* A fresh cache dir that children can traverse (they run as another uid on a root host). */
static void make_cache_dir(char *dir, size_t size) {
    snprintf(dir, size, "/var/tmp/psb-test-cache-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_dir(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The font list in DIR/matplotlib: its name into name, its stat into *ret. */
static bool font_list(const char *dir, char *name, size_t size, struct stat *ret) {
    char mpl[512];
    snprintf(mpl, sizeof mpl, "%s/matplotlib", dir);
    DIR *d = opendir(mpl);
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d)))
        if (strncmp(e->d_name, "fontlist-v", 10) == 0) {
            int n = snprintf(name, size, "%s/%s", mpl, e->d_name);
            found = n > 0 && (size_t)n < size && stat(name, ret) == 0;
        }
    if (d)
        closedir(d);
    return found;
}

/* Entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

/* Starts a sandbox that waits for its warm state (so the cache is published) and frees it. */
static void start_and_free(const char *cache) {
    psb_sandbox_free(new_sandbox(false, cache, 0));
}

/* A valid font list: JSON with matplotlib's version key. */
static void assert_valid_list(const char *path) {
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s: %s", path, jerr.text);
    ck_assert_ptr_nonnull(json_object_get(doc, "_version"));
    json_decref(doc);
}

START_TEST(font_cache_is_built_once_and_reused) {
    char cache[64], file[600], mpl[600];
    struct stat first, again, dir1, dir2;
    make_cache_dir(cache, sizeof cache);
    snprintf(mpl, sizeof mpl, "%s/matplotlib", cache);
    start_and_free(cache);
    ck_assert_msg(font_list(cache, file, sizeof file, &first), "no font list in %s", cache);
    assert_valid_list(file);
    ck_assert_int_eq(stat(mpl, &dir1), 0);
    ck_assert_int_eq(dir1.st_mode & 0777, 0755);
    ck_assert_int_eq(first.st_mode & 0777, 0644);
    /* The second sandbox copies it: the same file, not rewritten. */
    start_and_free(cache);
    ck_assert(font_list(cache, file, sizeof file, &again));
    ck_assert_int_eq(stat(mpl, &dir2), 0);
    ck_assert_int_eq(again.st_ino, first.st_ino);
    ck_assert_int_eq(dir2.st_ino, dir1.st_ino);
    ck_assert(again.st_mtim.tv_sec == first.st_mtim.tv_sec &&
              again.st_mtim.tv_nsec == first.st_mtim.tv_nsec);
    ck_assert_int_eq(count_prefixed(cache, ".build-"), 0);
    remove_dir(cache);
}
END_TEST

START_TEST(untrusted_cache_is_rebuilt) {
    char cache[64], file[600], mpl[600];
    struct stat st, dir_before, dir_after;
    make_cache_dir(cache, sizeof cache);
    snprintf(mpl, sizeof mpl, "%s/matplotlib", cache);
    start_and_free(cache);
    ck_assert(font_list(cache, file, sizeof file, &st));
    /* Corrupt: matplotlib cannot read it, so a new one replaces it. */
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{not json", f);
    fclose(f);
    ck_assert_int_eq(stat(mpl, &dir_before), 0);
    start_and_free(cache);
    ck_assert(font_list(cache, file, sizeof file, &st));
    assert_valid_list(file);
    ck_assert_int_eq(stat(mpl, &dir_after), 0);
    ck_assert_int_ne(dir_after.st_ino, dir_before.st_ino);
    /* Writable by others: not trusted, replaced by a dir of our own. */
    ck_assert_int_eq(chmod(mpl, 0777), 0);
    dir_before = dir_after;
    start_and_free(cache);
    ck_assert_int_eq(stat(mpl, &dir_after), 0);
    ck_assert_int_ne(dir_after.st_ino, dir_before.st_ino);
    ck_assert_int_eq(dir_after.st_mode & 0777, 0755);
    /* Owned by someone else (only root can make that). */
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(mpl, 65534, 65534), 0);
        dir_before = dir_after;
        start_and_free(cache);
        ck_assert_int_eq(stat(mpl, &dir_after), 0);
        ck_assert_int_ne(dir_after.st_ino, dir_before.st_ino);
        ck_assert_int_eq(dir_after.st_uid, geteuid());
    }
    ck_assert(font_list(cache, file, sizeof file, &st));
    assert_valid_list(file);
    ck_assert_int_eq(count_prefixed(cache, ".build-"), 0);
    remove_dir(cache);
}
END_TEST

static void *start_thread(void *cache) {
    start_and_free(cache);
    return NULL;
}

START_TEST(concurrent_builders_leave_one_cache) {
    char cache[64], file[600];
    struct stat st;
    make_cache_dir(cache, sizeof cache);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, start_thread, cache), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    ck_assert(font_list(cache, file, sizeof file, &st));
    assert_valid_list(file);
    ck_assert_int_eq(count_prefixed(cache, ".build-"), 0);
    ck_assert_int_eq(count_prefixed(cache, "matplotlib"), 1);
    remove_dir(cache);
}
END_TEST

/* Tries every way to change the cache; the result maps each to its error. */
static const char *const attack_cache =
    "import os\n"
    "d = inputs['dir']\n"
    "f = os.path.join(d, [n for n in os.listdir(d) if n.startswith('fontlist')][0])\n"
    "def tries():\n"
    "    yield 'append', lambda: open(f, 'a').write('x')\n"
    "    yield 'truncate', lambda: os.truncate(f, 0)\n"
    "    yield 'create', lambda: open(os.path.join(d, 'fontlist-v999.json'), 'w')\n"
    "    yield 'unlink', lambda: os.unlink(f)\n"
    "    yield 'rename', lambda: os.rename(d, d + '.old')\n"
    "    yield 'replace', lambda: os.replace(os.path.join(os.getcwd(), 'x'), f)\n"
    "    yield 'chmod', lambda: os.chmod(d, 0o777)\n"
    "    yield 'utime', lambda: os.utime(f, (0, 0))\n"
    "    yield 'mkdir', lambda: os.mkdir(os.path.join(d, 'sub'))\n"
    "    yield 'symlink', lambda: os.symlink('/tmp', os.path.join(d, 'l'))\n"
    "open('x', 'w').write('{}')\n"
    "result = {}\n"
    "for name, fn in tries():\n"
    "    try:\n"
    "        fn()\n"
    "        result[name] = 'done'\n"
    "    except Exception as e:\n"
    "        result[name] = type(e).__name__\n";

/* Every attempt of attack_cache failed, and the font list is as it was. */
static void attack_fails(psb_sandbox *sb, const char *cache) {
    char file[600], inputs[700];
    struct stat before, after;
    ck_assert(font_list(cache, file, sizeof file, &before));
    snprintf(inputs, sizeof inputs, "{\"dir\": \"%s/matplotlib\"}", cache);
    psb_outcome *out = run_ok(sb, attack_cache, inputs);
    json_t *r = json_loads(psb_outcome_result_json(out), 0, NULL);
    ck_assert_msg(json_object_size(r) == 10, "%s", psb_outcome_result_json(out));
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v) {
        ck_assert_msg(strcmp(json_string_value(v), "done") != 0, "%s succeeded: %s", k,
                      psb_outcome_result_json(out));
    }
    json_decref(r);
    psb_outcome_free(out);
    ck_assert(font_list(cache, file, sizeof file, &after));
    ck_assert_int_eq(after.st_ino, before.st_ino);
    ck_assert_int_eq(after.st_size, before.st_size);
    ck_assert_int_eq(after.st_mode, before.st_mode);
    ck_assert(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
              after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    assert_valid_list(file);
}

START_TEST(children_cannot_write_the_cache) {
    char cache[64];
    make_cache_dir(cache, sizeof cache);
    start_and_free(cache);
    /* Every layer, early and warm executions alike. */
    psb_sandbox *sb = new_sandbox(true, cache, 0);
    attack_fails(sb, cache);
    ck_assert(wait_warm(sb));
    attack_fails(sb, cache);
    psb_sandbox_free(sb);
    /* The kernel alone (no audit hook to turn it into a clear error first). */
    sb = new_sandbox(true, cache, PSB_LAYERS_ALL & ~PSB_LAYER_HOOKS);
    attack_fails(sb, cache);
    psb_sandbox_free(sb);
    remove_dir(cache);
}
END_TEST

START_TEST(early_then_warm) {
    char cache[64];
    make_cache_dir(cache, sizeof cache);
    start_and_free(cache); /* a trusted cache from the start, for matplotlib below */
    psb_sandbox *sb = new_sandbox(true, cache, 0);
    /* At once: before the preload is done (almost always), or after it. */
    psb_outcome *out = run_ok(sb, "result = 1 + 1", NULL);
    psb_start s = start_of(out);
    ck_assert_msg(s == PSB_START_EARLY || s == PSB_START_WARM, "start %s", psb_start_name(s));
    char want[64];
    snprintf(want, sizeof want, "\"start\":\"%s\"", psb_start_name(s));
    ck_assert_ptr_nonnull(strstr(psb_outcome_json(out), want));
    ck_assert_str_eq(psb_outcome_result_json(out), "2");
    psb_outcome_free(out);
    /* An early child imports on demand, under the same confinement. */
    out = run_ok(sb,
                 "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
                 "plt.plot([1, 2]); plt.show()\n"
                 "result = int(pd.Series(np.arange(4)).sum())\n",
                 NULL);
    ck_assert_str_eq(psb_outcome_result_json(out), "6");
    ck_assert_int_eq(psb_outcome_figure_count(out), 1);
    /* matplotlib read the shared font list: it left no cache of its own. */
    ck_assert_int_eq(psb_outcome_file_count(out), 0);
    psb_outcome_free(out);
    ck_assert_msg(wait_warm(sb), "no warm execution within %d ms", WARM_WAIT_MS);
    /* Once warm, warm it stays, with the preload set imported. */
    out = run_ok(sb, "import sys; result = 'pandas' in sys.modules", NULL);
    ck_assert_int_eq(start_of(out), PSB_START_WARM);
    ck_assert_str_eq(psb_outcome_result_json(out), "true");
    psb_outcome_free(out);
    psb_sandbox_free(sb);
    remove_dir(cache);
}
END_TEST

START_TEST(start_names_every_mode) {
    ck_assert_str_eq(psb_start_name(PSB_START_NONE), "none");
    ck_assert_str_eq(psb_start_name(PSB_START_WARM), "warm");
    ck_assert_str_eq(psb_start_name(PSB_START_EARLY), "early");
    ck_assert_str_eq(psb_start_name(PSB_START_COLD), "cold");
    ck_assert_str_eq(psb_start_name((psb_start)42), "unknown");
    /* Waiting for the warm state: the first execution is warm. */
    psb_sandbox *sb = new_sandbox(false, NULL, 0);
    psb_outcome *out = run_ok(sb, "result = 1", NULL);
    ck_assert_int_eq(start_of(out), PSB_START_WARM);
    psb_outcome_free(out);
    psb_sandbox_free(sb);
    psb_error err = {0};
    psb_config *c = psb_config_new(&err);
    ck_assert_int_eq(psb_config_set_mode(c, PSB_MODE_COLD, &err), PSB_OK);
    ck_assert_int_eq(psb_config_set_cache_dir(c, "relative/dir", &err), PSB_EINVAL);
    ck_assert_int_eq(psb_sandbox_new(c, &sb, &err), PSB_OK);
    psb_config_free(c);
    out = run_ok(sb, "result = 1", NULL);
    ck_assert_int_eq(start_of(out), PSB_START_COLD);
    ck_assert_ptr_nonnull(strstr(psb_outcome_json(out), "\"start\":\"cold\""));
    psb_outcome_free(out);
    psb_sandbox_free(sb);
}
END_TEST

/* The pid of /proc/PID/stat's parent and whether its comm is name; 0 when not alive. */
static pid_t parent_if_named(const char *pid, const char *name) {
    char path[300], buf[512], comm[64];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *rp = strrchr(buf, ')');
    char *lp = strchr(buf, '(');
    int ppid = 0;
    char state;
    if (!rp || !lp || rp - lp - 1 >= (long)sizeof comm ||
        sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || state == 'Z')
        return 0;
    snprintf(comm, sizeof comm, "%.*s", (int)(rp - lp - 1), lp + 1);
    return strcmp(comm, name) == 0 ? ppid : 0;
}

/* The first process named name whose parent is parent, or 0. */
static pid_t child_named(pid_t parent, const char *name) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;
    while (d && !found && (e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
            parent_if_named(e->d_name, name) == parent)
            found = atoi(e->d_name);
    if (d)
        closedir(d);
    return found;
}

/* Our helper's warm zygote as a pidfd (0 < *ret_pid), or -1 when there is none. */
static int zygote_pidfd(pid_t *ret_pid) {
    pid_t helper = child_named(getpid(), "pysandbox-helpe");
    pid_t z = helper ? child_named(helper, "psb-zygote") : 0;
    int fd = z ? pidfd_open(z, 0) : -1;
    *ret_pid = z;
    return fd;
}

/* true if the process behind pidfd exits within ms. */
static bool exits_within(int pidfd, int ms) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

START_TEST(zygote_death_does_not_break_the_sandbox) {
    psb_sandbox *sb = new_sandbox(true, NULL, 0);
    ck_assert(wait_warm(sb));
    pid_t z1 = 0;
    int fd = zygote_pidfd(&z1);
    ck_assert_msg(fd >= 0, "no warm zygote found");
    ck_assert_int_eq(pidfd_send_signal(fd, SIGKILL, NULL, 0), 0);
    ck_assert(exits_within(fd, 10000));
    close(fd);
    /* The helper serves from its minimal state, then from a new zygote. */
    for (int i = 0; i < 3; i++) {
        psb_outcome *out = run_ok(sb, "result = 3", NULL);
        ck_assert_str_eq(psb_outcome_result_json(out), "3");
        psb_outcome_free(out);
    }
    ck_assert(wait_warm(sb));
    pid_t z2 = 0;
    fd = zygote_pidfd(&z2);
    ck_assert(fd >= 0 && z2 != z1);
    /* Freeing the sandbox ends the zygote too. */
    psb_sandbox_free(sb);
    ck_assert(exits_within(fd, 10000));
    close(fd);
}
END_TEST

START_TEST(free_during_the_preload_leaves_nothing) {
    psb_sandbox *sb = new_sandbox(true, NULL, 0);
    pid_t z = 0;
    int fd = zygote_pidfd(&z);
    psb_sandbox_free(sb);
    if (fd >= 0) {
        ck_assert(exits_within(fd, 10000));
        close(fd);
    }
    ck_assert_int_eq(child_named(getpid(), "pysandbox-helpe"), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("start");
    TCase *cache = psb_tcase_create("cache");
    tcase_set_timeout(cache, 600);
    tcase_add_test(cache, font_cache_is_built_once_and_reused);
    tcase_add_test(cache, untrusted_cache_is_rebuilt);
    tcase_add_test(cache, concurrent_builders_leave_one_cache);
    tcase_add_test(cache, children_cannot_write_the_cache);
    suite_add_tcase(s, cache);
    TCase *early = psb_tcase_create("early");
    tcase_set_timeout(early, 600);
    tcase_add_test(early, early_then_warm);
    tcase_add_test(early, start_names_every_mode);
    tcase_add_test(early, zygote_death_does_not_break_the_sandbox);
    tcase_add_test(early, free_during_the_preload_leaves_nothing);
    suite_add_tcase(s, early);
    return psb_test_run(s);
}
