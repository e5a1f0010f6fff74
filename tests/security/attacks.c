/*
 * attacks.c - runs the attack files of one family (attacks/FAMILY/NAME.py)
 * as Check tests named after the files, and judges each outcome from
 * outside: the expectations of its header, the world it aimed at
 * (world.h), and what every outcome must hold (no secret, valid JSON,
 * PNG figures, kernel-sized statistics, a sandbox that still serves).
 *
 * The executions run in one host process per family, forked before Check
 * starts: it owns the family's sandboxes (a warm helper costs seconds to
 * start; one per file would multiply the suite's time) and calls psb_exec
 * for each test, which stays a forked Check test of its own. A test sends
 * its request as one datagram with the write end of a fresh pipe and
 * reads the reply from the pipe, so a test that Check kills halfway
 * leaves nothing behind for the next one.
 *
 *   test_attacks FAMILY [FILE.py ...]   the family (or some of its files)
 *   test_attacks --selftest             the parser, judge and world, proved to fail
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "include/pysandbox.h"
#include "tests/security/attack.h"
#include "tests/security/attack_spec.h"
#include "tests/security/world.h"
#include "tests/suite.h"

#ifndef PSB_ATTACKS_DIR
#define PSB_ATTACKS_DIR "tests/security/attacks"
#endif

#define DEFAULT_TIMEOUT_MS 60000u
#define REQUEST_MAX (1u << 20) /* one request datagram, bytes */
#define MAX_SANDBOXES 8        /* configurations one family uses */
#define MAX_FILES 512          /* attack files in a family */
#define CASE_TIMEOUT_S 300     /* Check's limit per file */

static const char *family;
static char *files[MAX_FILES];
static size_t nfiles;
static pid_t runner_pid;
static pid_t host_pid; /* the process that calls psb_exec */
static int host_sock = -1;
static char env_secret[64];

/* For the runner itself, outside any test (where Check cannot assert). */
static void must(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "test_attacks: %s: %s\n", what, strerror(errno));
        exit(EXIT_FAILURE);
    }
}

/* ======================================================================== */
/* The reply of the host process: tagged byte strings                       */
/* ======================================================================== */

enum tag {
    T_META = 1, /* JSON: id, status, error, wall_ms, signals, kind, stats, flags, figure sizes */
    T_TYPE,
    T_MESSAGE,
    T_TRACEBACK,
    T_MODULE,
    T_EVENT,
    T_RESULT, /* psb_outcome_result_json */
    T_STDOUT,
    T_STDERR,
    T_OUTCOME, /* psb_outcome_json */
    T_FILE_NAME,
    T_FILE_DATA,
    T_FIGURE_MIME,
    T_FIGURE_DATA,
    T_COUNT
};

static const char *const tag_name[T_COUNT] = {
    [T_META] = "meta",
    [T_TYPE] = "error type",
    [T_MESSAGE] = "error message",
    [T_TRACEBACK] = "traceback",
    [T_MODULE] = "error module",
    [T_EVENT] = "event",
    [T_RESULT] = "result",
    [T_STDOUT] = "stdout",
    [T_STDERR] = "stderr",
    [T_OUTCOME] = "outcome JSON",
    [T_FILE_NAME] = "output file name",
    [T_FILE_DATA] = "output file",
    [T_FIGURE_MIME] = "figure MIME type",
    [T_FIGURE_DATA] = "figure",
};

typedef struct blob {
    char *data; /* NUL-terminated copy; NULL when absent */
    size_t len;
} blob;

typedef struct reply {
    json_t *meta;
    blob one[T_COUNT]; /* the single-valued tags */
    blob *file_name, *file_data, *fig_mime, *fig_data;
    size_t nfiles, nfigs;
} reply;

static void reply_free(reply *r) {
    json_decref(r->meta);
    for (int t = 0; t < T_COUNT; t++)
        free(r->one[t].data);
    for (size_t i = 0; i < r->nfiles; i++) {
        free(r->file_name[i].data);
        free(r->file_data[i].data);
    }
    for (size_t i = 0; i < r->nfigs; i++) {
        free(r->fig_mime[i].data);
        free(r->fig_data[i].data);
    }
    free(r->file_name);
    free(r->file_data);
    free(r->fig_mime);
    free(r->fig_data);
    memset(r, 0, sizeof *r);
}

typedef struct wire_head {
    uint32_t tag, zero;
    uint64_t len;
} wire_head;

/* Writes all of buf; false once the reader is gone. */
static bool write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool put(int fd, enum tag t, const void *data, size_t len) {
    wire_head h = {.tag = t, .len = len};
    return write_all(fd, &h, sizeof h) && write_all(fd, data, len);
}

static bool put_str(int fd, enum tag t, const char *s) {
    return !s || put(fd, t, s, strlen(s));
}

static blob *push(blob **v, size_t n) {
    blob *g = realloc(*v, (n + 1) * sizeof **v);
    ck_assert_ptr_nonnull(g);
    *v = g;
    return &g[n];
}

/* Splits the bytes of a reply; 0, or -1 with why. */
static int reply_parse(const char *buf, size_t len, reply *r, char *why, size_t size) {
    memset(r, 0, sizeof *r);
    size_t off = 0, names = 0, mimes = 0;
    /* Every blob ends in r (freed by reply_free); the analyzer loses the
     * one stored at r->one[h.tag] and reports it leaked. */
    while (off < len) { /* NOLINT(clang-analyzer-unix.Malloc) */
        wire_head h;
        if (len - off < sizeof h)
            return snprintf(why, size, "a reply cut in a header"), -1;
        memcpy(&h, buf + off, sizeof h);
        off += sizeof h;
        if (h.tag == 0 || h.tag >= T_COUNT || h.len > len - off)
            return snprintf(why, size, "a malformed reply (tag %u, %llu bytes)", h.tag,
                            (unsigned long long)h.len),
                   -1;
        blob b = {malloc(h.len + 1), h.len};
        ck_assert_ptr_nonnull(b.data);
        memcpy(b.data, buf + off, h.len);
        b.data[h.len] = '\0';
        off += h.len;
        if (h.tag == T_FILE_NAME)
            *push(&r->file_name, names++) = b;
        else if (h.tag == T_FILE_DATA)
            *push(&r->file_data, r->nfiles++) = b;
        else if (h.tag == T_FIGURE_MIME)
            *push(&r->fig_mime, mimes++) = b;
        else if (h.tag == T_FIGURE_DATA)
            *push(&r->fig_data, r->nfigs++) = b;
        else if (r->one[h.tag].data) {
            free(b.data);
            return snprintf(why, size, "the tag %u twice", h.tag), -1;
        } else {
            r->one[h.tag] = b;
        }
    }
    if (names != r->nfiles || mimes != r->nfigs)
        return snprintf(why, size, "files or figures without their names"), -1;
    r->meta = r->one[T_META].data ? json_loads(r->one[T_META].data, 0, NULL) : NULL;
    if (!json_is_object(r->meta))
        return snprintf(why, size, "a reply without its meta"), -1;
    return 0;
}

static json_int_t meta_int(const reply *r, const char *key) {
    return json_integer_value(json_object_get(r->meta, key));
}

static const char *meta_str(const reply *r, const char *key) {
    const char *s = json_string_value(json_object_get(r->meta, key));
    return s ? s : "";
}

/* ======================================================================== */
/* The host process                                                         */
/* ======================================================================== */

/* The engines an attack runs on: the embedded interpreter warm or cold, or an external one. */
enum engine { ENGINE_WARM, ENGINE_COLD, ENGINE_EXTERNAL };
static const char *const engine_names[] = {"warm", "cold", "external"};
#define EXTERNAL_PYTHON "/usr/bin/python3.11"

typedef struct cached {
    int layers;
    int mode; /* enum engine */
    psb_sandbox *sb;
} cached;

static psb_sandbox *host_sandbox(cached *cache, size_t *n, int layers, int mode, char *why,
                                 size_t size) {
    for (size_t i = 0; i < *n; i++)
        if (cache[i].layers == layers && cache[i].mode == mode)
            return cache[i].sb;
    if (*n == MAX_SANDBOXES)
        return snprintf(why, size, "more than %d sandbox configurations", MAX_SANDBOXES), NULL;
    psb_error err = {.code = PSB_OK};
    psb_config *cfg = psb_config_new(&err);
    psb_sandbox *sb = NULL;
    psb_status st =
        cfg ? psb_config_set_mode(cfg, mode == ENGINE_WARM ? PSB_MODE_WARM : PSB_MODE_COLD, &err)
            : PSB_ENOMEM;
    if (st == PSB_OK && mode == ENGINE_EXTERNAL)
        st = psb_config_set_python(cfg, EXTERNAL_PYTHON, &err);
    if (st == PSB_OK && layers != SPEC_LAYERS_ALL)
        st = psb_config_set_diagnostic_layers(cfg, (unsigned)layers, &err);
    /* A "warm" attack's header describes the warm state: wait for it. */
    if (st == PSB_OK)
        st = psb_config_set_early_start(cfg, 0, &err);
    if (st == PSB_OK)
        st = psb_sandbox_new(cfg, &sb, &err);
    psb_config_free(cfg);
    if (st != PSB_OK)
        return snprintf(why, size, "psb_sandbox_new: %s: %s", psb_status_str(st), err.message),
               NULL;
    cache[*n] = (cached){layers, mode, sb};
    (*n)++;
    return sb;
}

/* Runs one request; the reply goes to out (the test's pipe). */
static void host_serve(json_t *req, int out, cached *cache, size_t *ncache) {
    static sig_atomic_t reported;
    psb_error err = {.code = PSB_OK};
    char why[700] = "";
    psb_outcome *o = NULL;
    psb_status st = PSB_EINVAL;
    uint64_t wall = 0;
    const char *code = json_string_value(json_object_get(req, "code"));
    const char *inputs = json_string_value(json_object_get(req, "inputs"));
    psb_sandbox *sb =
        host_sandbox(cache, ncache, (int)json_integer_value(json_object_get(req, "layers")),
                     (int)json_integer_value(json_object_get(req, "mode")), why, sizeof why);
    psb_exec_options *opt = psb_exec_options_new(&err);
    if (sb && opt && code && inputs) {
        st = psb_exec_options_set_inputs_json(opt, inputs, strlen(inputs), &err);
        json_int_t v;
        if (st == PSB_OK)
            st = psb_exec_options_set_timeout_ms(
                opt, (uint64_t)json_integer_value(json_object_get(req, "timeout_ms")), &err);
        if (st == PSB_OK && (v = json_integer_value(json_object_get(req, "cpu_s"))))
            st = psb_exec_options_set_cpu_limit_s(opt, (uint64_t)v, &err);
        if (st == PSB_OK && (v = json_integer_value(json_object_get(req, "memory_mib"))))
            st = psb_exec_options_set_memory_limit_mib(opt, (uint64_t)v, &err);
        if (st == PSB_OK) {
            uint64_t t0 = sec_now_ms();
            st = psb_exec(sb, code, strlen(code), opt, &o, &err);
            wall = sec_now_ms() - t0;
        }
        if (st != PSB_OK)
            snprintf(why, sizeof why, "%s: %s", psb_status_str(st), err.message);
    } else if (!why[0]) {
        snprintf(why, sizeof why, "a malformed request");
    }
    psb_exec_options_free(opt);
    sig_atomic_t now = sec_signals;
    json_t *meta =
        json_pack("{s:O,s:i,s:s,s:I,s:i}", "id", json_object_get(req, "id"), "status", (int)st,
                  "error", why, "wall_ms", (json_int_t)wall, "signals", (int)(now - reported));
    reported = now;
    if (o) {
        psb_stats stats;
        size_t olen, elen;
        int otr = 0, etr = 0;
        psb_outcome_stats(o, &stats);
        psb_outcome_stdout(o, &olen, &otr);
        psb_outcome_stderr(o, &elen, &etr);
        json_t *figs = json_array();
        for (size_t i = 0; i < psb_outcome_figure_count(o); i++) {
            unsigned w = 0, h = 0;
            psb_outcome_figure(o, i, NULL, NULL, NULL, &w, &h);
            json_array_append_new(figs, json_pack("{s:i,s:i}", "width", (int)w, "height", (int)h));
        }
        json_object_update_new(meta,
                               json_pack("{s:s,s:{s:I,s:I,s:I,s:I},s:b,s:b,s:o}", "kind",
                                         sec_kind(o), "stats", "wall_ms", (json_int_t)stats.wall_ms,
                                         "cpu_ms", (json_int_t)stats.cpu_ms, "peak_rss_kib",
                                         (json_int_t)stats.peak_rss_kib, "peak_memory_kib",
                                         (json_int_t)stats.peak_memory_kib, "stdout_truncated", otr,
                                         "stderr_truncated", etr, "figures", figs));
    }
    char *text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    bool ok = text && put(out, T_META, text, strlen(text));
    free(text);
    if (o && ok) {
        size_t olen, elen;
        const char *so = psb_outcome_stdout(o, &olen, NULL);
        const char *se = psb_outcome_stderr(o, &elen, NULL);
        ok = put_str(out, T_TYPE, psb_outcome_error_type(o)) &&
             put_str(out, T_MESSAGE, psb_outcome_error_message(o)) &&
             put_str(out, T_TRACEBACK, psb_outcome_error_traceback(o)) &&
             put_str(out, T_MODULE, psb_outcome_error_module(o)) &&
             put_str(out, T_EVENT, psb_outcome_error_event(o)) &&
             put_str(out, T_RESULT, psb_outcome_result_json(o)) &&
             put(out, T_STDOUT, so ? so : "", so ? olen : 0) &&
             put(out, T_STDERR, se ? se : "", se ? elen : 0) &&
             put_str(out, T_OUTCOME, psb_outcome_json(o));
        for (size_t i = 0; ok && i < psb_outcome_file_count(o); i++) {
            const char *name = NULL;
            const void *data = NULL;
            size_t len = 0;
            psb_outcome_file(o, i, &name, &data, &len);
            ok = put(out, T_FILE_NAME, name ? name : "", name ? strlen(name) : 0) &&
                 put(out, T_FILE_DATA, data ? data : "", data ? len : 0);
        }
        for (size_t i = 0; ok && i < psb_outcome_figure_count(o); i++) {
            const void *data = NULL;
            const char *mime = NULL;
            size_t len = 0;
            psb_outcome_figure(o, i, &data, &len, &mime, NULL, NULL);
            ok = put(out, T_FIGURE_MIME, mime ? mime : "", mime ? strlen(mime) : 0) &&
                 put(out, T_FIGURE_DATA, data ? data : "", data ? len : 0);
        }
    }
    psb_outcome_free(o);
}

static void host_main(int sock) {
    cached cache[MAX_SANDBOXES];
    size_t ncache = 0;
    char *buf = malloc(REQUEST_MAX);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    sec_count_signals();
    if (!buf)
        _exit(1);
    for (;;) {
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {buf, REQUEST_MAX};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the runner is done */
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        int out = -1;
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(&out, CMSG_DATA(c), sizeof out);
        json_t *req = (mh.msg_flags & MSG_TRUNC) ? NULL : json_loadb(buf, (size_t)n, 0, NULL);
        if (out >= 0 && req)
            host_serve(req, out, cache, &ncache);
        json_decref(req);
        if (out >= 0)
            close(out);
    }
    for (size_t i = 0; i < ncache; i++)
        psb_sandbox_free(cache[i].sb);
    free(buf);
    _exit(0);
}

static void host_start(void) {
    int sv[2];
    must(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    host_pid = fork();
    must(host_pid >= 0, "fork");
    if (host_pid == 0) {
        close(sv[0]);
        host_main(sv[1]);
    }
    close(sv[1]);
    host_sock = sv[0];
}

static void host_stop(void) {
    if (host_sock >= 0)
        close(host_sock);
    if (host_pid > 0)
        waitpid(host_pid, NULL, 0);
}

/* One execution in the host process; r is filled or the test fails. */
static void host_exec(json_t *req, reply *r) {
    static unsigned long long next_id;
    unsigned long long id = ((unsigned long long)getpid() << 20) + ++next_id;
    int p[2];
    json_object_set_new(req, "id", json_integer((json_int_t)id));
    char *text = json_dumps(req, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strlen(text) < REQUEST_MAX, "a request of %zu bytes", strlen(text));
    ck_assert(pipe2(p, O_CLOEXEC) == 0);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {text, strlen(text)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[1], sizeof(int));
    ssize_t sent;
    do
        sent = sendmsg(host_sock, &mh, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    ck_assert_msg(sent == (ssize_t)strlen(text), "the host process is gone: %s", strerror(errno));
    close(p[1]);
    free(text);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? 2 * cap : 1u << 20;
            char *grown = realloc(buf, cap);
            ck_assert_ptr_nonnull(grown);
            buf = grown;
        }
        ssize_t n = read(p[0], buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n >= 0, "reading the reply: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(p[0]);
    char why[256];
    ck_assert_msg(len > 0, "the host process sent no reply (did it die?)");
    ck_assert_msg(reply_parse(buf, len, r, why, sizeof why) == 0, "%s", why);
    free(buf);
    ck_assert_msg((unsigned long long)meta_int(r, "id") == id, "a reply to another request");
}

/* ======================================================================== */
/* Judging                                                                  */
/* ======================================================================== */

/* Problems of one case, collected so that a failure shows all the evidence. */
typedef struct problems {
    char text[3500];
    unsigned count;
} problems;

__attribute__((format(printf, 2, 3))) static void problem(problems *p, const char *fmt, ...) {
    size_t used = strlen(p->text);
    p->count++;
    if (used + 8 >= sizeof p->text)
        return;
    if (used)
        used += (size_t)snprintf(p->text + used, sizeof p->text - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text + used, sizeof p->text - used, fmt, ap);
    va_end(ap);
}

static bool is_png(const blob *b, unsigned *w, unsigned *h) {
    const unsigned char *d = (const unsigned char *)b->data;
    if (!d || b->len < 24 || memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0)
        return false;
    *w = (unsigned)d[16] << 24 | (unsigned)d[17] << 16 | (unsigned)d[18] << 8 | d[19];
    *h = (unsigned)d[20] << 24 | (unsigned)d[21] << 16 | (unsigned)d[22] << 8 | d[23];
    return true;
}

/*
 * What every outcome holds, whatever the attack: psb_exec succeeded; no
 * secret of the world in any byte that came back; the result and the
 * outcome are JSON; each figure is a PNG of its declared size; the
 * statistics are what the kernel can have measured on this machine.
 */
static void judge_reply(const reply *r, const world *w, problems *p) {
    if (meta_int(r, "status") != PSB_OK) {
        problem(p, "psb_exec failed: %s", meta_str(r, "error"));
        return;
    }
    for (int t = T_TYPE; t < T_COUNT; t++) {
        const char *what = world_leak(w, r->one[t].data, r->one[t].len);
        if (what)
            problem(p, "%s leaked into the %s", what, tag_name[t]);
    }
    for (size_t i = 0; i < r->nfiles; i++) {
        const char *what = world_leak(w, r->file_data[i].data, r->file_data[i].len);
        if (what || (what = world_leak(w, r->file_name[i].data, r->file_name[i].len)))
            problem(p, "%s leaked through the output file %s", what, r->file_name[i].data);
    }
    if (!sec_valid_json(r->one[T_RESULT].data))
        problem(p, "psb_outcome_result_json is not JSON: %.80s", S(r->one[T_RESULT].data));
    if (!sec_valid_json(r->one[T_OUTCOME].data))
        problem(p, "psb_outcome_json is not JSON: %.200s", S(r->one[T_OUTCOME].data));
    json_t *figs = json_object_get(r->meta, "figures");
    for (size_t i = 0; i < r->nfigs; i++) {
        unsigned w_png = 0, h_png = 0;
        json_t *f = json_array_get(figs, i);
        unsigned fw = (unsigned)json_integer_value(json_object_get(f, "width"));
        unsigned fh = (unsigned)json_integer_value(json_object_get(f, "height"));
        if (strcmp(r->fig_mime[i].data, "image/png") != 0)
            problem(p, "figure %zu has MIME type %s", i, r->fig_mime[i].data);
        if (!is_png(&r->fig_data[i], &w_png, &h_png))
            problem(p, "figure %zu (%zu bytes) is not a PNG", i, r->fig_data[i].len);
        else if (w_png != fw || h_png != fh)
            problem(p, "figure %zu claims %ux%u, its PNG is %ux%u", i, fw, fh, w_png, h_png);
    }
    json_t *doc = json_loads(S(r->one[T_OUTCOME].data), 0, NULL);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "figures"), i, f) {
        const char *mime = json_string_value(json_object_get(f, "mime"));
        if (!mime || strcmp(mime, "image/png") != 0)
            problem(p, "outcome JSON figure %zu is %s", i, S(mime));
    }
    json_decref(doc);
    json_t *stats = json_object_get(r->meta, "stats");
    json_int_t cpu = json_integer_value(json_object_get(stats, "cpu_ms"));
    json_int_t rss = json_integer_value(json_object_get(stats, "peak_rss_kib"));
    json_int_t wall = meta_int(r, "wall_ms");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long mem_total = sec_proc_kib("/proc/meminfo", "MemTotal");
    if (cpu > (wall + 100) * (ncpu > 0 ? ncpu : 1))
        problem(p, "cpu_ms %lld in a %lld ms run on %ld CPUs", (long long)cpu, (long long)wall,
                ncpu);
    if (mem_total > 0 && rss > mem_total)
        problem(p, "peak_rss_kib %lld > MemTotal %ld", (long long)rss, mem_total);
}

static json_t *view_str(const blob *b) {
    return b->data ? json_stringn_nocheck(b->data, b->len) : json_null();
}

/* The outcome as one JSON object: what the expectations look at. */
static json_t *view_of(const reply *r, int tcp_accepted) {
    json_t *v = json_object();
    const char *kind = meta_str(r, "kind");
    json_object_set_new(v, "kind", kind[0] ? json_string(kind) : json_null());
    static const struct {
        const char *name;
        enum tag tag;
    } strs[] = {{"type", T_TYPE},       {"message", T_MESSAGE}, {"traceback", T_TRACEBACK},
                {"module", T_MODULE},   {"event", T_EVENT},     {"result_json", T_RESULT},
                {"outcome", T_OUTCOME}, {"stdout", T_STDOUT},   {"stderr", T_STDERR}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        json_object_set_new(v, strs[i].name, view_str(&r->one[strs[i].tag]));
    json_t *res =
        r->one[T_RESULT].data ? json_loads(r->one[T_RESULT].data, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(v, "result", res ? res : json_null());
    json_object_set_new(v, "stdout_bytes", json_integer((json_int_t)r->one[T_STDOUT].len));
    json_object_set_new(v, "stderr_bytes", json_integer((json_int_t)r->one[T_STDERR].len));
    json_object_set(v, "stdout_truncated", json_object_get(r->meta, "stdout_truncated"));
    json_object_set(v, "stderr_truncated", json_object_get(r->meta, "stderr_truncated"));
    json_object_set(v, "stats", json_object_get(r->meta, "stats"));
    json_t *figs = json_array(), *fls = json_array();
    for (size_t i = 0; i < r->nfigs; i++) {
        json_t *f = json_deep_copy(json_array_get(json_object_get(r->meta, "figures"), i));
        json_object_set_new(f, "mime", view_str(&r->fig_mime[i]));
        json_object_set_new(f, "bytes", json_integer((json_int_t)r->fig_data[i].len));
        json_array_append_new(figs, f);
    }
    for (size_t i = 0; i < r->nfiles; i++)
        json_array_append_new(fls, json_pack("{s:o,s:I}", "name", view_str(&r->file_name[i]),
                                             "bytes", (json_int_t)r->file_data[i].len));
    json_object_set_new(v, "figures", figs);
    json_object_set_new(v, "files", fls);
    json_object_set_new(v, "wall_ms", json_integer(meta_int(r, "wall_ms")));
    json_object_set_new(v, "tcp_accepted", json_integer(tcp_accepted));
    return v;
}

/* One line per execution on stdout, like every attack suite here. */
static void log_reply(const char *name, const char *mode, const reply *r) {
    const char *ev = r->one[T_EVENT].data, *mod = r->one[T_MODULE].data;
    bool ok = !strcmp(meta_str(r, "kind"), "ok");
    printf("[%s] %-34s %s -> %s%s%s%s%s (%lld ms) %.160s\n", family, name, mode,
           meta_int(r, "status") == PSB_OK ? meta_str(r, "kind") : "psb_exec failed",
           ev ? " event=" : "", ev ? ev : "", mod ? " module=" : "", mod ? mod : "",
           (long long)meta_int(r, "wall_ms"),
           ok                       ? S(r->one[T_RESULT].data)
           : r->one[T_MESSAGE].data ? r->one[T_MESSAGE].data
                                    : meta_str(r, "error"));
    for (size_t i = 0; i < r->nfiles; i++)
        printf("[%s]   output file %s (%zu bytes)\n", family, r->file_name[i].data,
               r->file_data[i].len);
    fflush(stdout);
}

static const char *describe(const reply *r, char *buf, size_t size) {
    snprintf(buf, size,
             "kind=%s type=%s message=%.300s event=%s module=%s result=%.600s stdout=%.200s "
             "traceback=%.600s",
             meta_str(r, "kind"), S(r->one[T_TYPE].data), S(r->one[T_MESSAGE].data),
             S(r->one[T_EVENT].data), S(r->one[T_MODULE].data), S(r->one[T_RESULT].data),
             S(r->one[T_STDOUT].data), S(r->one[T_TRACEBACK].data));
    return buf;
}

/* ======================================================================== */
/* Running a file                                                           */
/* ======================================================================== */

static char *attacks_path(const char *a, const char *b, const char *c) {
    char *path = NULL;
    must(asprintf(&path, "%s/%s%s%s", PSB_ATTACKS_DIR, a, b, c) > 0, "asprintf");
    return path;
}

static bool lib_exists(const char *name) {
    struct stat st;
    char *path = attacks_path("lib/", name, ".py");
    bool ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

static char *load(const char *a, const char *b, const char *c) {
    char *path = attacks_path(a, b, c);
    char *text = sec_read_file(path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s: %s", path, strerror(errno));
    free(path);
    return text;
}

/* Why this machine cannot run the attack, or NULL. */
static const char *unmet(const attack_spec *s) {
    static char why[128];
    int abi = world_landlock_abi();
    if (s->need_root && !sec_is_root())
        return "the test does not run as root";
    if (s->landlock_abi && abi < s->landlock_abi)
        return snprintf(why, sizeof why, "Landlock ABI %d < %d", abi, s->landlock_abi), why;
#ifdef PSB_SANITIZE
    if (s->no_sanitizer)
        return "a sanitizer build: ASan's allocator exits instead of returning NULL when "
               "RLIMIT_AS runs out (crashed, not memory_limit)";
#endif
    return NULL;
}

/* The request for the attack of s (text: the whole file) in mode. */
static json_t *attack_request(const attack_spec *s, const char *text, const world *w, int mode) {
    char *src = strdup(""), *code;
    for (size_t i = 0; i < s->nlibs; i++) {
        char *lib = load("lib/", s->libs[i], ".py"), *joined = NULL;
        ck_assert(asprintf(&joined, "%s%s", src, lib) > 0);
        free(lib);
        free(src);
        src = joined;
    }
    char *joined = NULL;
    ck_assert(asprintf(&joined, "%s%s", src, text) > 0);
    free(src);
    json_t *in = world_inputs(w, host_pid);
    if (s->bypass) {
        json_object_set_new(in, "src", json_string(joined));
        free(joined);
        code = load("via/", "bypass", ".py");
    } else {
        code = joined;
    }
    char *in_text = json_dumps(in, JSON_COMPACT);
    json_decref(in);
    json_t *req = json_pack("{s:i,s:i,s:s,s:s,s:I,s:I,s:I}", "layers", s->layers, "mode", (int)mode,
                            "code", code, "inputs", in_text, "timeout_ms",
                            (json_int_t)(s->timeout_ms ? s->timeout_ms : DEFAULT_TIMEOUT_MS),
                            "cpu_s", (json_int_t)s->cpu_s, "memory_mib", (json_int_t)s->memory_mib);
    ck_assert_ptr_nonnull(req);
    free(code);
    free(in_text);
    return req;
}

/* The sandbox still serves: a plain execution right after the attack. */
static void judge_control(const attack_spec *s, int mode, long *signals, problems *p) {
    char nonce[17], code[64], d[2048];
    sec_random_hex(nonce, 16);
    snprintf(code, sizeof code, "result = 'control-%s'\n", nonce);
    json_t *req =
        json_pack("{s:i,s:i,s:s,s:s,s:i,s:i,s:i}", "layers", s->layers, "mode", (int)mode, "code",
                  code, "inputs", "{}", "timeout_ms", 30000, "cpu_s", 0, "memory_mib", 0);
    reply r;
    host_exec(req, &r);
    json_decref(req);
    *signals += (long)meta_int(&r, "signals");
    char want[64];
    snprintf(want, sizeof want, "\"control-%s\"", nonce);
    if (meta_int(&r, "status") != PSB_OK || strcmp(meta_str(&r, "kind"), "ok") != 0 ||
        strcmp(S(r.one[T_RESULT].data), want) != 0)
        problem(p, "the next execution on the sandbox failed: %s%s", meta_str(&r, "error"),
                describe(&r, d, sizeof d));
    reply_free(&r);
}

static void run_case(int index) {
    const char *name = files[index];
    char *path = attacks_path(family, "/", name);
    char *text = sec_read_file(path, NULL);
    char err[512], d[2048], why[1200];
    attack_spec s;
    ck_assert_msg(text != NULL, "cannot read %s", path);
    ck_assert_msg(spec_parse(text, lib_exists, &s, err, sizeof err) == 0, "%s: %s", path, err);
    const char *skip = unmet(&s);
    if (skip) {
        printf("[%s] %s SKIP: %s\n", family, name, skip);
        spec_free(&s);
        free(text);
        free(path);
        return;
    }
    world w;
    world_setup(&w, runner_pid, env_secret);
    for (unsigned m = SPEC_MODE_WARM; m <= SPEC_MODE_EXTERNAL; m <<= 1) {
        if (!(s.modes & m))
            continue;
        int mode = m == SPEC_MODE_COLD       ? ENGINE_COLD
                   : m == SPEC_MODE_EXTERNAL ? ENGINE_EXTERNAL
                                             : ENGINE_WARM;
        const char *mode_name = engine_names[mode];
        problems p = {{0}, 0};
        json_t *req = attack_request(&s, text, &w, mode);
        reply r;
        host_exec(req, &r);
        uint64_t done = sec_now_ms();
        json_decref(req);
        log_reply(name, mode_name, &r);
        long signals = (long)meta_int(&r, "signals");
        judge_reply(&r, &w, &p);
        judge_control(&s, mode, &signals, &p);
        int tcp = 0;
        const char *wp = world_problem(&w, host_pid, signals, s.tcp_judged ? -1 : 0, &tcp, done);
        if (wp[0])
            problem(&p, "%s", wp);
        json_t *view = view_of(&r, tcp);
        for (size_t i = 0; i < s.nexpects; i++)
            if (!spec_eval(&s.expects[i], view, why, sizeof why))
                problem(&p, "line %d: expect: %s -- but %s", s.expects[i].line, s.expects[i].text,
                        why);
        json_decref(view);
        ck_assert_msg(p.count == 0, "%s (%s, %s): %u problem(s): %s -- outcome: %s", name, s.attack,
                      mode_name, p.count, p.text, describe(&r, d, sizeof d));
        reply_free(&r);
    }
    world_cleanup(&w);
    spec_free(&s);
    free(text);
    free(path);
}

/* A directory entry that is not an attack file fails under its own name. */
static void not_an_attack(int index) {
    ck_abort_msg("%s/%s/%s is not an attack file (NAME.py, a regular file)", PSB_ATTACKS_DIR,
                 family, files[index]);
}

static void no_attacks(int index) {
    (void)index;
    ck_abort_msg("no attack files in %s/%s", PSB_ATTACKS_DIR, family);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sweep(void) {
    world_sweep(runner_pid);
}

/* Check keeps a pointer to each TTest and frees none: they live here. */
static TTest *new_test(const char *name, TFun fn) {
    static TTest tests[MAX_FILES + 1];
    static size_t ntests;
    must(ntests < sizeof tests / sizeof tests[0], "too many tests");
    TTest *t = &tests[ntests++];
    t->name = name;
    t->fn = fn;
    t->file = __FILE__;
    t->line = __LINE__;
    return t;
}

/* The family's files (all of them, or those named in only[]) as tests. */
static Suite *family_suite(char **only, int nonly) {
    char *dir = attacks_path(family, "", "");
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) {
        fprintf(stderr, "test_attacks: no family %s (%s: %s)\n", family, dir, strerror(errno));
        exit(EXIT_FAILURE);
    }
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            must(nfiles < MAX_FILES, "too many files in the family");
            files[nfiles++] = strdup(e->d_name);
        }
    closedir(d);
    free(dir);
    qsort(files, nfiles, sizeof files[0], by_name);
    Suite *s = suite_create(family);
    TCase *tc = tcase_create(family);
    tcase_add_unchecked_fixture(tc, NULL, sweep);
    tcase_set_timeout(tc, CASE_TIMEOUT_S);
    size_t added = 0;
    for (size_t i = 0; i < nfiles; i++) {
        bool wanted = nonly == 0;
        for (int k = 0; k < nonly; k++)
            wanted |= !strcmp(only[k], files[i]);
        if (!wanted)
            continue;
        char *path = attacks_path(family, "/", files[i]);
        struct stat st;
        size_t len = strlen(files[i]);
        bool is_attack = len > 3 && !strcmp(files[i] + len - 3, ".py") && stat(path, &st) == 0 &&
                         S_ISREG(st.st_mode);
        free(path);
        tcase_add_loop_test(tc, new_test(files[i], is_attack ? run_case : not_an_attack), (int)i,
                            (int)i + 1);
        added++;
    }
    if (!added)
        tcase_add_test(tc, new_test("no attacks", no_attacks));
    suite_add_tcase(s, tc);
    return s;
}

/* ======================================================================== */
/* Self-test: the parser, the judge and the world can fail                  */
/* ======================================================================== */

static bool lib_fake(const char *name) {
    return !strcmp(name, "tryit") || !strcmp(name, "libc");
}

#define H "# attack: x\n# layers: all\n"

START_TEST(test_header_rejects) {
    static const struct {
        const char *text, *why; /* why: a part of the error */
    } bad[] = {
        {"# attack: x\n# layers: all\nresult = 1\n", "no 'expect:'"},
        {"# layers: all\n# expect: kind = ok\nresult = 1\n", "no 'attack:'"},
        {"# attack: x\n# expect: kind = ok\nresult = 1\n", "no 'layers:'"},
        {H "# expect: kind = ok\n", "no code"},
        {H "# expect: kind = ok\n\n# just a comment\n", "no code"},
        {H "# expect: kind = ok\n# just a comment\nresult = 1\n", "not a '# key: value' line"},
        {H "# expct: kind = ok\nresult = 1\n", "unknown header key"},
        {H "# expect: kind = ok\n# timeout: 5\nx = 1\n", "unknown header key"},
        {H "# expect: kind = ok\n#comment\nx = 1\n", "not a '# key: value' line"},
        {H "# expect:\nx = 1\n", "not a '# key: value' line"},
        {H "# expect: kind = ok\n\n# expect: kind = denied\nx = 1\n", "below the header"},
        {H "# expect: kind = ok\nx = 1\n    #  expect: kind = ok\n", "below the header"},
        {H "# attack: y\n# expect: kind = ok\nx = 1\n", "'attack' given twice"},
        {"# attack: x\n# layers: all seccomp\n# expect: kind = ok\nx = 1\n", "stands alone"},
        {"# attack: x\n# layers: secomp\n# expect: kind = ok\nx = 1\n", "unknown layer"},
        {"# attack: x\n# layers: hooks hooks\n# expect: kind = ok\nx = 1\n", "twice"},
        {H "# mode: hot\n# expect: kind = ok\nx = 1\n", "unknown mode"},
        {H "# mode: warm warm\n# expect: kind = ok\nx = 1\n", "twice"},
        {H "# via: magic\n# expect: kind = ok\nx = 1\n", "unknown via"},
        {H "# lib: nosuch\n# expect: kind = ok\nx = 1\n", "no lib named"},
        {H "# requires: sudo\n# expect: kind = ok\nx = 1\n", "unknown requirement"},
        {H "# timeout_ms: 10s\n# expect: kind = ok\nx = 1\n", "not a number"},
        {H "# timeout_ms: 0\n# expect: kind = ok\nx = 1\n", "not a number"},
        {H "# expect: kind ok\nx = 1\n", "expected an operator"},
        {H "# expect: knd = ok\nx = 1\n", "unknown subject"},
        {H "# expect: kind.x = ok\nx = 1\n", "has no members"},
        {H "# expect: result..x = 1\nx = 1\n", "invalid member"},
        {H "# expect: kind = ok and\nx = 1\n", "ends with"},
        {H "# expect: kind = ok nor kind = denied\nx = 1\n", "expected 'and', 'or'"},
        {H "# expect: wall_ms < fast\nx = 1\n", "compares with a number"},
        {H "# expect: stdout contains 5\nx = 1\n", "takes a string"},
        {H "# expect: result = {\"a\": \nx = 1\n", "bad JSON"},
        {H "# expect: result = 12abc\nx = 1\n", "junk after"},
        {H "# expect: event = a'b\nx = 1\n", "quote it"},
        {H "# expect: kind = and\nx = 1\n", "quote it"},
        {H "# expect: kind =ok\nx = 1\n", "a space after"},
        {H "# expect: count(result.*) = 1\nx = 1\n", "count() of a '*'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        attack_spec s;
        char err[512] = "";
        int rc = spec_parse(bad[i].text, lib_fake, &s, err, sizeof err);
        ck_assert_msg(rc == -1, "case %zu was accepted: %s", i, bad[i].text);
        ck_assert_msg(strstr(err, bad[i].why), "case %zu: error '%s' lacks '%s'", i, err,
                      bad[i].why);
    }
}
END_TEST

START_TEST(test_header_accepts) {
    const char *text = "# attack: fork with ctypes\n"
                       "# layers: seccomp landlock\n"
                       "# mode: warm cold\n"
                       "# via: bypass\n"
                       "# lib: tryit libc\n"
                       "# requires: root landlock-abi>=4 no-sanitizer\n"
                       "# timeout_ms: 5000\n"
                       "# cpu_s: 2\n"
                       "# memory_mib: 128\n"
                       "# expect: kind = ok\n"
                       "# expect: tcp_accepted = 1 or result.x != \"a b\"\n"
                       "\n"
                       "# note: an ordinary comment below the header\n"
                       "result = 1\n";
    attack_spec s;
    char err[512] = "";
    ck_assert_msg(spec_parse(text, lib_fake, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s.attack, "fork with ctypes");
    ck_assert_int_eq(s.layers, PSB_LAYER_SECCOMP | PSB_LAYER_LANDLOCK);
    ck_assert_int_eq(s.modes, SPEC_MODE_WARM | SPEC_MODE_COLD);
    ck_assert(s.bypass && s.need_root && s.no_sanitizer && s.tcp_judged);
    ck_assert_int_eq(s.landlock_abi, 4);
    ck_assert_int_eq(s.nlibs, 2);
    ck_assert_str_eq(s.libs[1], "libc");
    ck_assert(s.timeout_ms == 5000 && s.cpu_s == 2 && s.memory_mib == 128);
    ck_assert_int_eq(s.nexpects, 2);
    ck_assert_int_eq(s.expects[1].line, 11);
    ck_assert_int_eq(s.expects[1].nalts, 2);
    spec_free(&s);
    ck_assert_int_eq(spec_parse("# attack: x\n# layers: none\n# expect: kind = ok\nx=1", lib_fake,
                                &s, err, sizeof err),
                     0);
    ck_assert_int_eq(s.layers, 0);
    ck_assert_int_eq(s.modes, SPEC_MODE_WARM);
    spec_free(&s);
}
END_TEST

START_TEST(test_expect_eval) {
    json_t *view = json_pack(
        "{s:s,s:n,s:s,s:{s:{s:i,s:s},s:[i,i,i],s:{s:s,s:s},s:{},s:f},s:i,s:b,s:[{s:i}]}", "kind",
        "ok", "event", "message", "killed by SIGSYS (31)", "result", "fork", "ret", -1, "errno",
        "EPERM", "open", 0, 1, 2, "read", "4", "EBADF", "5", "EBADF", "empty", "pi", 3.5, "wall_ms",
        120, "stdout_truncated", 1, "figures", "width", 640);
    json_object_set_new(view, "stdout", json_stringn_nocheck("a\0b\xff", 4));
    static const struct {
        const char *cond;
        bool holds;
    } cases[] = {
        {"kind = ok", true},
        {"kind = denied", false},
        {"kind != ok", false},
        {"kind = \"ok\"", true},
        {"event = null", true},
        {"event = syscall:socket", false},
        {"message contains SIGSYS", true},
        {"message excludes SIGSYS", false},
        {"message contains SIGKILL", false},
        {"result.fork = {\"ret\": -1, \"errno\": \"EPERM\"}", true},
        {"result.fork = {\"ret\": -1}", false},
        {"result.fork.ret = -1 and result.fork.errno = EPERM", true},
        {"result.fork.ret = 0", false},
        {"result.nosuch.ret = -1", false},
        {"result.nosuch != 1", false},
        {"result.open = [0, 1, 2]", true},
        {"result.open.2 = 2", true},
        {"result.open.3 = 3", false},
        {"count(result.open) = 3", true},
        {"count(result.open) = 4", false},
        {"count(result.empty) = 0", true},
        {"count(kind) = 1", false},
        {"result.read.* = EBADF", true},
        {"result.open.* >= 1", false},
        {"result.empty.* = 1", false},
        {"result.pi > 3", true},
        {"result.pi < 3", false},
        {"result.fork.errno < 3", false},
        {"wall_ms < 100", false},
        {"wall_ms <= 120 and wall_ms >= 120", true},
        {"stdout_truncated = true", true},
        {"figures.0.width = 640", true},
        {"stdout contains \"b\"", true},
        {"stdout contains \"\\u0000b\"", true},
        {"stdout excludes \"a\"", false},
        {"kind = denied or kind = ok", true},
        {"kind = denied or kind = crashed", false},
        {"kind = ok and result.fork.ret = 0 or kind = ok and result.fork.ret = -1", true},
        {"kind = ok and result.fork.ret = 0 or kind = denied", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spec_expect e;
        char err[512] = "", why[1200] = "";
        ck_assert_msg(spec_parse_expect(cases[i].cond, &e, err, sizeof err) == 0, "%s: %s",
                      cases[i].cond, err);
        bool got = spec_eval(&e, view, why, sizeof why);
        ck_assert_msg(got == cases[i].holds, "'%s' evaluated to %d (%s)", cases[i].cond, got, why);
        ck_assert_msg(got || why[0], "'%s' failed without saying why", cases[i].cond);
        spec_expect_free(&e);
    }
    json_decref(view);
}
END_TEST

/* A reply as the host process would send it, from pieces. */
static void fake_reply(reply *r, const char *meta, const char *result, const char *stdout_text,
                       const void *fig, size_t fig_len) {
    memset(r, 0, sizeof *r);
    r->meta = json_loads(meta, 0, NULL);
    ck_assert_ptr_nonnull(r->meta);
    r->one[T_RESULT] = (blob){strdup(result), strlen(result)};
    r->one[T_OUTCOME] = (blob){strdup("{}"), 2};
    r->one[T_STDOUT] = (blob){strdup(stdout_text), strlen(stdout_text)};
    if (fig) {
        r->nfigs = 1;
        r->fig_mime = calloc(1, sizeof(blob));
        r->fig_data = calloc(1, sizeof(blob));
        r->fig_mime[0] = (blob){strdup("image/png"), 9};
        r->fig_data[0] = (blob){malloc(fig_len + 1), fig_len};
        memcpy(r->fig_data[0].data, fig, fig_len);
    }
}

START_TEST(test_judge_reply) {
    world w;
    memset(&w, 0, sizeof w);
    snprintf(w.secret, sizeof w.secret, "PSB-SECRET-0123");
    snprintf(w.env_secret, sizeof w.env_secret, "xyz-4567");
    static const char ok_meta[] = "{\"status\":0,\"kind\":\"ok\",\"wall_ms\":50,"
                                  "\"stats\":{\"cpu_ms\":10,\"peak_rss_kib\":1000},"
                                  "\"figures\":[{\"width\":2,\"height\":3}]}";
    unsigned char png[24] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                             'I',  'H', 'D', 'R', 0,    0,    0,    2,    0, 0, 0, 3};
    static const struct {
        const char *meta, *result, *out, *why;
        int bad_png;
    } cases[] = {
        {ok_meta, "1", "", NULL, 0},
        {ok_meta, "\"PSB-SECRET-0123\"", "", "leaked into the result", 0},
        {ok_meta, "1", "..xyz-4567..", "PSB_HOST_SECRET leaked into the stdout", 0},
        {ok_meta, "{\"a\":", "", "is not JSON", 0},
        {ok_meta, "1", "", "is not a PNG", 1},
        {ok_meta, "1", "", "claims 2x3", 2},
        {"{\"status\":0,\"kind\":\"ok\",\"wall_ms\":50,\"stats\":{\"cpu_ms\":123456789}}", "1", "",
         "cpu_ms 123456789", -1},
        {"{\"status\":0,\"kind\":\"ok\",\"wall_ms\":5,\"stats\":{\"peak_rss_kib\":987654321987}}",
         "1", "", "MemTotal", -1},
        {"{\"status\":4,\"error\":\"EHELPER: gone\"}", "1", "", "psb_exec failed", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reply r;
        unsigned char img[24];
        memcpy(img, png, sizeof img);
        if (cases[i].bad_png == 1)
            img[1] = 'X';
        if (cases[i].bad_png == 2)
            img[23] = 4;
        fake_reply(&r, cases[i].meta, cases[i].result, cases[i].out,
                   cases[i].bad_png >= 0 ? img : NULL, sizeof img);
        problems p = {{0}, 0};
        judge_reply(&r, &w, &p);
        if (!cases[i].why)
            ck_assert_msg(p.count == 0, "case %zu: %s", i, p.text);
        else
            ck_assert_msg(strstr(p.text, cases[i].why), "case %zu: '%s' lacks '%s'", i, p.text,
                          cases[i].why);
        reply_free(&r);
    }
}
END_TEST

/* Each way of touching the world is seen; the untouched world is clean. */
START_TEST(test_world_detects) {
    static const char *const ways[] = {"nothing", "file",   "secret",   "victim", "tcp",
                                       "udp",     "signal", "sentinel", "process"};
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        world w;
        char path[256];
        world_setup(&w, runner_pid, env_secret);
        const char *way = ways[i];
        long signals = 0;
        pid_t tagged = -1;
        if (!strcmp(way, "file")) {
            snprintf(path, sizeof path, "%s-pwned", w.canary);
            world__write(path, "x", 0644);
        } else if (!strcmp(way, "secret")) {
            ck_assert(truncate(w.secret_path, 3) == 0);
        } else if (!strcmp(way, "victim")) {
            ck_assert(chmod(w.victim, 0666) == 0);
        } else if (!strcmp(way, "tcp") || !strcmp(way, "udp")) {
            struct sockaddr_in in = {.sin_family = AF_INET,
                                     .sin_port =
                                         htons(!strcmp(way, "tcp") ? w.tcp_port : w.udp_port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            int fd =
                socket(AF_INET, (!strcmp(way, "tcp") ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
            ck_assert(fd >= 0);
            if (!strcmp(way, "tcp"))
                ck_assert(connect(fd, (struct sockaddr *)&in, sizeof in) == 0);
            else
                ck_assert(sendto(fd, "x", 1, 0, (struct sockaddr *)&in, sizeof in) == 1);
            close(fd);
        } else if (!strcmp(way, "signal")) {
            signals = 1;
        } else if (!strcmp(way, "sentinel")) {
            kill(w.sentinel, SIGKILL); /* our own sentinel, by pid */
            waitpid(w.sentinel, NULL, 0);
        } else if (!strcmp(way, "process")) {
            tagged = fork();
            ck_assert(tagged >= 0);
            if (tagged == 0) {
                prctl(PR_SET_NAME, w.tag, 0, 0, 0);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;)
                    pause();
            }
            sec_sleep_ms(50);
        }
        /* What it did is synchronous on loopback: nothing is in flight. */
        const char *why =
            world_problem(&w, getpid(), signals, 0, NULL, sec_now_ms() - WORLD_SETTLE_MS);
        if (!strcmp(way, "nothing"))
            ck_assert_msg(!why[0], "the untouched world has a problem: %s", why);
        else
            ck_assert_msg(why[0], "the world did not see: %s", way);
        printf("selftest: world after %s: %s\n", way, why[0] ? why : "clean");
        if (tagged > 0) {
            kill(tagged, SIGKILL); /* our own child, by pid */
            waitpid(tagged, NULL, 0);
        }
        world_cleanup(&w);
    }
}
END_TEST

static Suite *selftest_suite(void) {
    Suite *s = suite_create("selftest");
    TCase *tc = tcase_create("selftest");
    tcase_add_unchecked_fixture(tc, NULL, sweep);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_header_rejects);
    tcase_add_test(tc, test_header_accepts);
    tcase_add_test(tc, test_expect_eval);
    tcase_add_test(tc, test_judge_reply);
    tcase_add_test(tc, test_world_detects);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_attacks FAMILY [FILE.py ...] | --selftest\n");
        return 2;
    }
    runner_pid = getpid();
    setvbuf(stdout, NULL, _IOLBF, 0); /* a failing test exits: keep what it printed */
    unsigned char raw[8];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC); /* no Check outside a test */
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw)
        return EXIT_FAILURE;
    close(fd);
    snprintf(env_secret, sizeof env_secret, "xyz-%02x%02x%02x%02x%02x%02x%02x%02x", raw[0], raw[1],
             raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
    /* A host secret in the environment: the helper and children must not see it. */
    if (setenv("PSB_HOST_SECRET", env_secret, 1) != 0)
        return EXIT_FAILURE;
    if (!strcmp(argv[1], "--selftest"))
        return psb_test_run(selftest_suite());
    family = argv[1];
    Suite *s = family_suite(argv + 2, argc - 2);
    host_start();
    int rc = psb_test_run(s);
    host_stop();
    return rc;
}
