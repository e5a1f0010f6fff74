/*
 * test_untrusted.c - attacks by the execution child on what it writes that
 * need more than one file with an expectation: forged huge replies beside a
 * timed neighbour, output floods, the host's cost of rendering huge outcomes
 * and memory pinned outside the heap. Code in the sandbox forges frames with
 * frame(type, payload) from attacks/lib/forge.py, floods stdout and pins
 * kernel memory; each attack is judged from outside: the outcome the host
 * gets, the helper's and the host's resident memory, MemAvailable, and how
 * long neighbouring executions take (CLOCK_MONOTONIC). The forged outcomes,
 * statistics, figures and results are attack files (attacks/forged/).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "include/pysandbox.h"
#include "tests/security/attack.h"
#include "tests/suite.h"

#ifndef PSB_ATTACKS_DIR
#define PSB_ATTACKS_DIR "tests/security/attacks"
#endif

/* ------------------------------------------------------------------------ */
/* Measuring from outside                                                   */
/* ------------------------------------------------------------------------ */

static long mem_available_kib(void) {
    return sec_proc_kib("/proc/meminfo", "MemAvailable");
}

/* Peak RSS of this (forked test) process, KiB. */
static long self_maxrss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/*
 * Samples, every 20 ms in a thread: the largest VmRSS of `pid` (if > 0) and
 * the smallest MemAvailable.
 */
typedef struct sampler {
    pthread_t thread;
    atomic_bool stop;
    pid_t pid;          /* process whose VmRSS is watched, 0: none */
    long max_rss_kib;   /* largest VmRSS seen */
    long min_avail_kib; /* smallest MemAvailable seen */
    unsigned samples;   /* how many */
} sampler;

static void *sampler_main(void *arg) {
    sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        if (s->pid > 0) {
            long rss = sec_status_field(s->pid, "VmRSS");
            if (rss > s->max_rss_kib)
                s->max_rss_kib = rss;
        }
        long avail = mem_available_kib();
        if (avail >= 0 && (s->min_avail_kib < 0 || avail < s->min_avail_kib))
            s->min_avail_kib = avail;
        s->samples++;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void sampler_start(sampler *s, pid_t pid) {
    memset(s, 0, sizeof *s);
    s->pid = pid;
    s->max_rss_kib = pid > 0 ? sec_status_field(pid, "VmRSS") : -1;
    s->min_avail_kib = mem_available_kib();
    atomic_store(&s->stop, false);
    ck_assert(pthread_create(&s->thread, NULL, sampler_main, s) == 0);
}

static void sampler_stop(sampler *s) {
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
}

/* Resets the peak RSS (VmHWM) of pid to its current RSS; false if refused. */
static bool reset_hwm(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Running executions                                                       */
/* ------------------------------------------------------------------------ */

typedef struct spec {
    const char *name;
    const char *code;       /* appended to attacks/lib/forge.py */
    uint64_t timeout_ms;    /* 0: 30 s */
    uint64_t memory_mib;    /* 0: the policy's */
    uint64_t result_bytes;  /* 0: the policy's */
    const void *stdin_data; /* NULL: none */
    size_t stdin_len;
} spec;

typedef struct run {
    spec sp;
    psb_sandbox *sb;
    pthread_barrier_t *go; /* all threads start together; NULL when alone */
    psb_status st;         /* of psb_exec */
    char err[512];         /* its error message */
    psb_outcome *o;
    const char *kind;  /* "ok" or the error kind */
    uint64_t wall_ms;  /* around psb_exec, CLOCK_MONOTONIC */
    uint64_t start_ms; /* when psb_exec was called */
} run;

/* Available to every attack: frame(type, payload[, announced length]). */
static char *forge;

static void load_forge(void) {
    forge = sec_read_file(PSB_ATTACKS_DIR "/lib/forge.py", NULL);
    ck_assert_msg(forge != NULL, "cannot read %s/lib/forge.py", PSB_ATTACKS_DIR);
}

static void free_forge(void) {
    free(forge);
    forge = NULL;
}

/* Runs r->sp on r->sb; never asserts (it may run on another thread). */
static void run_exec(run *r) {
    psb_error err = {.code = PSB_OK};
    psb_exec_options *opt = psb_exec_options_new(&err);
    char *code = NULL;
    r->st = PSB_ENOMEM;
    if (!opt || asprintf(&code, "%s%s", forge, r->sp.code) < 0)
        goto out;
    (void)psb_exec_options_set_timeout_ms(opt, r->sp.timeout_ms ? r->sp.timeout_ms : 30000, &err);
    if (r->sp.memory_mib)
        (void)psb_exec_options_set_memory_limit_mib(opt, r->sp.memory_mib, &err);
    if (r->sp.result_bytes)
        (void)psb_exec_options_set_result_limit_bytes(opt, r->sp.result_bytes, &err);
    if (r->sp.stdin_data)
        (void)psb_exec_options_set_stdin(opt, r->sp.stdin_data, r->sp.stdin_len, &err);
    if (err.code != PSB_OK) {
        r->st = err.code;
        goto out;
    }
    if (r->go)
        pthread_barrier_wait(r->go);
    r->start_ms = sec_now_ms();
    r->st = psb_exec(r->sb, code, strlen(code), opt, &r->o, &err);
    r->wall_ms = sec_now_ms() - r->start_ms;
out:
    snprintf(r->err, sizeof r->err, "%s", err.message);
    if (r->st == PSB_OK)
        r->kind = psb_outcome_ok(r->o) ? "ok" : psb_error_kind_name(psb_outcome_error_kind(r->o));
    free(code);
    psb_exec_options_free(opt);
}

static const char *describe(const run *r) {
    static char buf[3072];
    char o[2048];
    if (r->st != PSB_OK) {
        snprintf(buf, sizeof buf, "%s: psb_exec failed: %s: %s", r->sp.name, psb_status_str(r->st),
                 r->err);
        return buf;
    }
    psb_stats stats;
    psb_outcome_stats(r->o, &stats);
    size_t olen = 0;
    psb_outcome_stdout(r->o, &olen, NULL);
    snprintf(buf, sizeof buf,
             "%s: after %llu ms (stats wall %llu cpu %llu ms rss %llu KiB), stdout %zu bytes, "
             "figures %zu: %.1500s",
             r->sp.name, (unsigned long long)r->wall_ms, (unsigned long long)stats.wall_ms,
             (unsigned long long)stats.cpu_ms, (unsigned long long)stats.peak_rss_kib, olen,
             psb_outcome_figure_count(r->o), sec_describe(r->o, o, sizeof o));
    return buf;
}

static void report(const run *r) {
    fprintf(stderr, "  %s\n", describe(r));
}

/* One execution on this thread; the outcome must exist. */
static run run_one(psb_sandbox *sb, spec sp) {
    run r = {.sp = sp, .sb = sb};
    run_exec(&r);
    ck_assert_msg(r.st == PSB_OK, "%s", describe(&r));
    report(&r);
    return r;
}

static void run_free(run *r) {
    psb_outcome_free(r->o);
    r->o = NULL;
}

static void *run_thread(void *arg) {
    run_exec(arg);
    return NULL;
}

/* Runs n executions from n host threads started at the same moment. */
static void run_parallel(run *rs, size_t n) {
    pthread_t th[16];
    pthread_barrier_t go;
    ck_assert(n <= 16);
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        rs[i].go = &go;
        ck_assert(pthread_create(&th[i], NULL, run_thread, &rs[i]) == 0);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(rs[i].st == PSB_OK, "%s", describe(&rs[i]));
        report(&rs[i]);
    }
}

/* A neighbour: a busy loop with a 1000 ms timeout. */
#define NEIGHBOUR_TIMEOUT_MS 1000u
/* How late a timeout may come back: the interrupt grace plus scheduling. */
#define NEIGHBOUR_SLACK_MS 1500u

static spec neighbour(void) {
    return (spec){
        .name = "neighbour", .code = "while True:\n    pass\n", .timeout_ms = NEIGHBOUR_TIMEOUT_MS};
}

static void expect_neighbour(const run *r) {
    ck_assert_msg(!strcmp(r->kind, "timeout"), "%s", describe(r));
    ck_assert_msg(r->wall_ms <= NEIGHBOUR_TIMEOUT_MS + NEIGHBOUR_SLACK_MS,
                  "a neighbour with a %u ms timeout came back after %llu ms (limit %u ms): %s",
                  NEIGHBOUR_TIMEOUT_MS, (unsigned long long)r->wall_ms,
                  NEIGHBOUR_TIMEOUT_MS + NEIGHBOUR_SLACK_MS, describe(r));
}

/* The outcome hands out only valid JSON, whatever the child sent. */
static void expect_json_intact(const run *r) {
    const char *res = psb_outcome_result_json(r->o);
    ck_assert_msg(res == NULL || sec_valid_json(res),
                  "%s: psb_outcome_result_json is not JSON: %.80s (status %s)", r->sp.name, res,
                  r->kind);
    const char *all = psb_outcome_json(r->o);
    ck_assert_msg(sec_valid_json(all), "%s: psb_outcome_json is not JSON: %.200s", r->sp.name,
                  S(all));
}

/* ------------------------------------------------------------------------ */
/* 1. Forged huge replies                                                   */
/* ------------------------------------------------------------------------ */

/* How much the helper's resident memory may grow because of one child. */
#define HELPER_GROWTH_MAX_KIB (32L * 1024)

/* Violations found so far in one test, reported together at its end. */
typedef struct findings {
    char text[4096];
} findings;

static void __attribute__((format(printf, 2, 3))) found(findings *f, const char *fmt, ...) {
    size_t used = strlen(f->text);
    if (used + 4 >= sizeof f->text)
        return;
    if (used)
        used += (size_t)snprintf(f->text + used, sizeof f->text - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text + used, sizeof f->text - used, fmt, ap);
    va_end(ap);
}

/*
 * A 128 MiB execution must not get 600 MiB: neither in one block (mmap'd by
 * malloc) nor in 64 KiB pieces, which malloc takes from heap the child
 * inherited from the helper, already counted in its address-space baseline.
 */
static void check_memory_limit(psb_sandbox *sb, const char *when, findings *f) {
    static const char *const ways[][2] = {
        {"one block", "b = bytearray(600 << 20)\n"
                      "for i in range(0, len(b), 4096):\n"
                      "    b[i] = 1\n"
                      "result = len(b) >> 20\n"},
        {"64 KiB pieces", "held = [bytearray(65536) for _ in range(600 * 16)]\n"
                          "result = len(held) >> 4\n"},
    };
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "600 MiB in %s under 128 MiB, %s", ways[i][0], when);
        run r = run_one(sb, (spec){.name = name, .code = ways[i][1], .memory_mib = 128});
        if (!strcmp(r.kind, "ok"))
            found(f, "%s, 600 MiB in %s were allocated under a 128 MiB limit", when, ways[i][0]);
        run_free(&r);
    }
}

/*
 * Runs a forged reply beside a neighbour; checks the helper's growth, the
 * attack's outcome and duration, the neighbour's timing, then the memory
 * limit of a later execution. All violations are reported together.
 */
static void huge_reply_attack(spec attack, uint64_t prompt_ms) {
    findings f = {{0}};
    psb_sandbox *sb = sec_sandbox(SEC_LAYERS_DEFAULT, PSB_MODE_WARM, 4);
    run warm = run_one(sb, (spec){.name = "warm-up", .code = "result = 1\n"});
    run_free(&warm);
    check_memory_limit(sb, "before the attack", &f);
    ck_assert_msg(!f.text[0], "the memory limit does not hold even without an attack: %s", f.text);
    pid_t helper = sec_find_helper(getpid());
    ck_assert_msg(helper > 0, "no helper process found");
    long rss0 = sec_status_field(helper, "VmRSS"), hwm0 = sec_status_field(helper, "VmHWM");
    bool reset = reset_hwm(helper);
    sampler s;
    sampler_start(&s, helper);
    run rs[2] = {{.sp = attack, .sb = sb}, {.sp = neighbour(), .sb = sb}};
    run_parallel(rs, 2);
    sampler_stop(&s);
    long hwm1 = sec_status_field(helper, "VmHWM"), rss1 = sec_status_field(helper, "VmRSS");
    long peak = s.max_rss_kib > hwm1 || !reset ? s.max_rss_kib : hwm1;
    fprintf(stderr,
            "  helper %d: VmRSS %ld -> %ld KiB, VmHWM %ld (reset %s) -> %ld KiB, sampled max "
            "%ld KiB: growth %ld KiB (limit %ld)\n",
            (int)helper, rss0, rss1, hwm0, reset ? "yes" : "no", hwm1, s.max_rss_kib, peak - rss0,
            HELPER_GROWTH_MAX_KIB);
    if (!strcmp(rs[0].kind, "ok"))
        found(&f, "the forged reply came back ok");
    const char *res = psb_outcome_result_json(rs[0].o);
    if ((res && !sec_valid_json(res)) || !sec_valid_json(psb_outcome_json(rs[0].o)))
        found(&f, "the outcome holds invalid JSON");
    if (rs[0].wall_ms > prompt_ms)
        found(&f, "the attack took %llu ms (limit %llu)", (unsigned long long)rs[0].wall_ms,
              (unsigned long long)prompt_ms);
    if (strcmp(rs[1].kind, "timeout") != 0 ||
        rs[1].wall_ms > NEIGHBOUR_TIMEOUT_MS + NEIGHBOUR_SLACK_MS)
        found(&f, "the neighbour (%u ms timeout) came back %s after %llu ms (limit %u ms)",
              NEIGHBOUR_TIMEOUT_MS, rs[1].kind, (unsigned long long)rs[1].wall_ms,
              NEIGHBOUR_TIMEOUT_MS + NEIGHBOUR_SLACK_MS);
    if (peak - rss0 > HELPER_GROWTH_MAX_KIB)
        found(&f, "the helper grew by %ld KiB (VmRSS %ld -> peak %ld, %ld KiB after)", peak - rss0,
              rss0, peak, rss1);
    char what[512];
    snprintf(what, sizeof what, "%.500s", describe(&rs[0]));
    run_free(&rs[0]);
    run_free(&rs[1]);
    check_memory_limit(sb, "after the attack", &f);
    psb_sandbox_free(sb);
    ck_assert_msg(!f.text[0], "%s: %s", what, f.text);
}

START_TEST(test_huge_reply_20mib) {
    huge_reply_attack((spec){.name = "REPLY of 20 MiB junk",
                             .code = "junk = b'\\xa5J{[\"' * (4 << 20)\n"
                                     "frame(REPLY, junk)\n"
                                     "del junk\n"
                                     "frame(RESULT, '1')\n"
                                     "result = 1\n",
                             .timeout_ms = 20000},
                      5000);
}
END_TEST

START_TEST(test_huge_reply_20mib_json) {
    /* Junk that parses: a JSON reply holding seven million empty objects. */
    huge_reply_attack((spec){.name = "REPLY of 20 MiB JSON",
                             .code = "head = b'{\"status\":\"ok\",\"junk\":['\n"
                                     "n = ((20 << 20) - len(head) - 3) // 3\n"
                                     "body = head + b'{},' * n + b'{}]}'\n"
                                     "frame(REPLY, body + b' ' * ((20 << 20) - len(body)))\n"
                                     "del body\n"
                                     "frame(RESULT, '1')\n"
                                     "result = 1\n",
                             .timeout_ms = 20000},
                      5000);
}
END_TEST

START_TEST(test_huge_reply_1gib_announced) {
    /* 1 GiB announced, 48 MiB sent, then the child waits: the header alone
     * is over every cap, so the answer need not wait for the deadline. */
    huge_reply_attack((spec){.name = "REPLY announcing 1 GiB",
                             .code = "put(struct.pack('=IIQ', REPLY, 0, 1 << 30))\n"
                                     "chunk = b'{' * (1 << 20)\n"
                                     "for i in range(48):\n"
                                     "    put(chunk)\n"
                                     "time.sleep(15)\n",
                             .timeout_ms = 15000},
                      5000);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 2. Output floods                                                         */
/* ------------------------------------------------------------------------ */

START_TEST(test_stdout_flood) {
    psb_sandbox *sb = sec_sandbox(SEC_LAYERS_DEFAULT, PSB_MODE_WARM, 4);
    run warm = run_one(sb, (spec){.name = "warm-up", .code = "result = 1\n"});
    run_free(&warm);
    long rss0 = self_maxrss_kib();
    const uint64_t cap = 1u << 20; /* the default stdout cap */
    spec flood = {.name = "stdout flood",
                  .code = "import threading\n"
                          "def spl():\n"
                          "    z = os.open('/dev/zero', os.O_RDONLY)\n"
                          "    while True:\n"
                          "        os.splice(z, 1, 1 << 20)\n"
                          "def wr():\n"
                          "    b = b'x' * 65536\n"
                          "    while True:\n"
                          "        os.write(1, b)\n"
                          "for f in (spl, wr, wr, spl):\n"
                          "    threading.Thread(target=f, daemon=True).start()\n"
                          "wr()\n",
                  .timeout_ms = 3000};
    run rs[4] = {{.sp = flood, .sb = sb}};
    for (int i = 1; i < 4; i++)
        rs[i] = (run){.sp = neighbour(), .sb = sb};
    run_parallel(rs, 4);
    long rss1 = self_maxrss_kib();
    size_t olen = 0;
    int trunc = 0;
    psb_outcome_stdout(rs[0].o, &olen, &trunc);
    fprintf(stderr, "  flood: %zu stdout bytes kept, truncated %d; host maxrss %ld -> %ld KiB\n",
            olen, trunc, rss0, rss1);
    ck_assert_msg(trunc && olen <= cap, "stdout %zu bytes, truncated %d", olen, trunc);
    ck_assert_msg(rss1 - rss0 <= (long)(cap / 1024) + 16 * 1024,
                  "the host's peak RSS grew by %ld KiB for a %llu-byte stdout cap", rss1 - rss0,
                  (unsigned long long)cap);
    for (int i = 1; i < 4; i++)
        expect_neighbour(&rs[i]);
    for (int i = 0; i < 4; i++)
        run_free(&rs[i]);
    psb_sandbox_free(sb);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 3. Host cost of rendering outcomes                                       */
/* ------------------------------------------------------------------------ */

/* Runs sp, renders the outcome, checks the host's peak RSS growth. */
static void render_cost(psb_sandbox *sb, spec sp, bool must_be_ok, size_t sent_bytes) {
    long rss0 = self_maxrss_kib();
    run r = run_one(sb, sp);
    const char *res = psb_outcome_result_json(r.o);
    size_t res_len = res ? strlen(res) : 0;
    const char *all = psb_outcome_json(r.o);
    long rss1 = self_maxrss_kib();
    /* Scales with the larger of what came back and what the child sent. */
    long json_kib = (long)((res_len > sent_bytes ? res_len : sent_bytes) / 1024);
    long limit = 8 * json_kib + 64 * 1024;
    fprintf(stderr,
            "  %s: result %zu bytes, outcome JSON %zu bytes; host maxrss %ld -> %ld KiB "
            "(+%ld, limit %ld)\n",
            sp.name, res_len, all ? strlen(all) : 0, rss0, rss1, rss1 - rss0, limit);
    if (must_be_ok)
        ck_assert_msg(!strcmp(r.kind, "ok") && res_len == 6000001, "%s", describe(&r));
    expect_json_intact(&r);
    ck_assert_msg(rss1 - rss0 <= limit, "%s: the host's peak RSS grew by %ld KiB (limit %ld KiB)",
                  sp.name, rss1 - rss0, limit);
    run_free(&r);
}

START_TEST(test_render_two_million_dicts) {
    psb_sandbox *sb = sec_sandbox(SEC_LAYERS_DEFAULT, PSB_MODE_WARM, 0);
    render_cost(sb,
                (spec){.name = "2e6 empty dicts",
                       .code = "result = [{} for _ in range(2_000_000)]\n",
                       .memory_mib = 4096,
                       .result_bytes = 64u << 20},
                true, 6000000);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(test_render_forged_dicts) {
    psb_sandbox *sb = sec_sandbox(SEC_LAYERS_DEFAULT, PSB_MODE_WARM, 0);
    render_cost(sb,
                (spec){.name = "forged 15 MiB of [{},{},...]",
                       .code = "reply({'status': 'ok'})\n"
                               "frame(RESULT, b'[' + b'{},' * (5 << 20) + b'{}]')\n"
                               "time.sleep(0.2)\n",
                       .result_bytes = 64u << 20},
                false, 15u << 20);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(test_render_forged_nesting) {
    psb_sandbox *sb = sec_sandbox(SEC_LAYERS_DEFAULT, PSB_MODE_WARM, 0);
    render_cost(sb,
                (spec){.name = "forged 15 MiB of [[[[",
                       .code = "reply({'status': 'ok'})\n"
                               "frame(RESULT, b'[' * (15 << 20))\n"
                               "time.sleep(0.2)\n",
                       .result_bytes = 64u << 20},
                false, 15u << 20);
    psb_sandbox_free(sb);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 4. Memory beyond the limit                                               */
/* ------------------------------------------------------------------------ */

/*
 * Pins memory the address-space limit does not see: tmpfs pages in the
 * scratch dir, the stdin memfd (writable, extended, mapped), pipe buffers,
 * and anonymous memory up to the limit. Reports MiB per kind; holds it all
 * for 2 s. Never goes past RLIMIT_FSIZE (64 MiB by default), whose SIGXFSZ
 * would end the run early.
 */
static const char PIN[] =
    "import fcntl, mmap\n"
    "r = {}\n"
    "held = []\n"
    "MB = 1 << 20\n"
    "chunk = b'p' * MB\n"
    "def note(k, v):\n"
    "    r[k] = r.get(k, 0) + v\n"
    "try:\n"
    "    a = bytearray(96 * MB)\n"
    "    for i in range(0, len(a), 4096):\n"
    "        a[i] = 1\n"
    "    held.append(a); note('anon_mib', 96)\n"
    "except MemoryError:\n"
    "    r['anon'] = 'MemoryError'\n"
    "import gc\n"
    "gc.unfreeze()  # the helper's frozen objects: a reference to each copies its page\n"
    "objs = gc.get_objects()\n"
    "r['objects'] = len(objs)\n"
    "for n in range(64):\n"
    "    try:\n"
    "        fd = os.open('pin%d' % n, os.O_WRONLY | os.O_CREAT)\n"
    "    except OSError as e:\n"
    "        r['scratch_err'] = str(e); break\n"
    "    try:\n"
    "        for i in range(32):\n"
    "            os.write(fd, chunk); note('scratch_mib', 1)\n"
    "    except OSError as e:\n"
    "        r['scratch_err'] = str(e); break\n"
    "    finally:\n"
    "        os.close(fd)\n"
    "try:\n"
    "    size = os.fstat(0).st_size\n"
    "    os.lseek(0, 0, os.SEEK_SET)\n"
    "    for i in range(63):\n"
    "        os.write(0, chunk)\n"
    "    note('stdin_mib', 63 - size // MB)\n"
    "    m = mmap.mmap(0, 63 * MB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)\n"
    "    for i in range(0, 63 * MB, 4096):\n"
    "        m[i] = 2\n"
    "    m.close()\n"
    "except (OSError, ValueError) as e:\n"
    "    r['stdin_err'] = str(e)\n"
    "pipes = []\n"
    "try:\n"
    "    while len(pipes) < 100:\n"
    "        rd, wr = os.pipe()\n"
    "        pipes.append((rd, wr))\n"
    "        try:\n"
    "            fcntl.fcntl(wr, 1031, MB)\n"
    "        except OSError:\n"
    "            pass\n"
    "        os.set_blocking(wr, False)\n"
    "        n = 0\n"
    "        try:\n"
    "            while n < 4 * MB:\n"
    "                n += os.write(wr, chunk[:65536])\n"
    "        except BlockingIOError:\n"
    "            pass\n"
    "        note('pipe_kib', n // 1024)\n"
    "except OSError as e:\n"
    "    r['pipe_err'] = str(e)\n"
    "r['pipes'] = len(pipes)\n"
    "print(json.dumps(r), flush=True)\n"
    "time.sleep(2)\n"
    "result = r\n";

START_TEST(test_pinned_memory) {
    psb_sandbox *sb = sec_sandbox(SEC_LAYERS_DEFAULT, PSB_MODE_WARM, 0);
    size_t in_len = 32u << 20;
    char *in = malloc(in_len);
    ck_assert_ptr_nonnull(in);
    memset(in, 'i', in_len);
    spec sp = {.name = "pin memory outside the heap",
               .code = PIN,
               .memory_mib = 128,
               .timeout_ms = 20000,
               .stdin_data = in,
               .stdin_len = in_len};
    run warm = run_one(sb, (spec){.name = "warm-up", .code = "result = 1\n"});
    run_free(&warm);
    const long limit_kib = (128 + 32) * 1024;
    long best = -1;
    /* Other processes on the machine move MemAvailable too: an attack that
     * pins memory does so every time, noise rarely twice. Keep the smaller. */
    for (int attempt = 0; attempt < 2 && (best < 0 || best > limit_kib); attempt++) {
        usleep(300 * 1000);
        long base = mem_available_kib();
        sampler s;
        sampler_start(&s, 0);
        run r = run_one(sb, sp);
        sampler_stop(&s);
        long after = mem_available_kib();
        long drop = base - s.min_avail_kib;
        fprintf(stderr,
                "  attempt %d: MemAvailable %ld KiB before, min %ld during (%u samples), %ld "
                "after: drop %ld KiB (limit %ld)\n",
                attempt, base, s.min_avail_kib, s.samples, after, drop, limit_kib);
        size_t olen = 0;
        const char *out = psb_outcome_stdout(r.o, &olen, NULL);
        fprintf(stderr, "  pinned by the child: %.*s\n", (int)(olen > 400 ? 400 : olen), out);
        if (best < 0 || drop < best)
            best = drop;
        run_free(&r);
    }
    free(in);
    ck_assert_msg(best <= limit_kib,
                  "a 128 MiB execution took %ld KiB of the machine's available memory (limit %ld "
                  "KiB)",
                  best, limit_kib);
    psb_sandbox_free(sb);
}
END_TEST

/* ------------------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name) {
    TCase *tc = psb_tcase_create(name);
    tcase_add_checked_fixture(tc, load_forge, free_forge);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *untrusted_suite(void) {
    Suite *s = suite_create("untrusted");
    TCase *tc = tcase(s, "forged_huge_reply");
    tcase_add_test(tc, test_huge_reply_20mib);
    tcase_add_test(tc, test_huge_reply_20mib_json);
    tcase_add_test(tc, test_huge_reply_1gib_announced);
    tc = tcase(s, "output_flood");
    tcase_add_test(tc, test_stdout_flood);
    tc = tcase(s, "render_cost");
    tcase_add_test(tc, test_render_two_million_dicts);
    tcase_add_test(tc, test_render_forged_dicts);
    tcase_add_test(tc, test_render_forged_nesting);
    tc = tcase(s, "memory_beyond_limit");
    tcase_add_test(tc, test_pinned_memory);
    return s;
}

int main(void) {
    return psb_test_run(untrusted_suite());
}
