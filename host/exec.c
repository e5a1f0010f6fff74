/*
 * host/exec.c - one execution as the library runs it. The library makes
 * the execution's channels (a socket for the request and the reply, pipes
 * for stdout and stderr) and passes the child's ends through the helper,
 * which forwards them to the child it forks and keeps none of it: the
 * request goes straight to the child, the output straight back here, and
 * the helper (which forks every later child) never holds a byte of either.
 * Everything read from the child is untrusted: each frame is capped before
 * it is buffered and checked before it is believed; the helper reports what
 * the kernel says (STATUS); psb__verdict() decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/host.h"

/* Largest STATUS frame from the helper. */
#define STATUS_MAX_BYTES ((uint64_t)64 << 10)
/* Bytes read from one fd per poll round, so no stream starves the others. */
#define ROUND_BUDGET_BYTES (256u << 10)
/* Streams still open this long after the helper reported the exit are closed. */
#define DRAIN_AFTER_EXIT_NS (500ull * 1000000ull)
/* The helper enforces the timeout; this bound only catches a hung helper. */
#define HELPER_GRACE_MS 15000u
/* Nesting a result may have (the child's converter stops at 200). */
#define RESULT_MAX_DEPTH 512u

enum { S_DATA, S_OUT, S_ERR, S_HELPER, S_CANCEL, NFDS };

/* One frame being read from the child, header first. */
struct frame_in {
    unsigned char hdr[16]; /* header bytes */
    size_t have;           /* header bytes read */
    uint32_t type;         /* once the header is complete */
    uint64_t len;          /* announced payload length (checked against a cap) */
    psb__buf body;         /* payload read so far */
};

struct run {
    const psb__limits *limits;      /* the request's limits */
    int fd[NFDS];                   /* -1 once closed */
    psb__buf out, err;              /* kept stdout and stderr */
    bool out_trunc, err_trunc;      /* bytes were dropped past the caps */
    struct frame_in in;             /* the frame being read from the data socket */
    enum psb__reply_phase phase;    /* which frames may come next */
    struct psb__reply_count count;  /* figures and files so far, for the caps */
    enum psb__reply_state reply;    /* how far the reply got */
    json_t *claim_doc;              /* the REPLY document */
    struct psb__claim claim;        /* what it says */
    psb__buf result;                /* the RESULT text, checked */
    struct psb__figure *figures;    /* checked PNGs */
    size_t n_figures;               /* entries in figures */
    bool figures_dropped;           /* a figure was not a PNG */
    struct psb__display *displays;  /* checked bundles */
    size_t n_displays;              /* entries in displays */
    struct psb__file *files;        /* the files the child sent */
    size_t n_files;                 /* entries in files */
    const psb_exec_options *inputs; /* what the library sent (unchanged inputs left out) */
    char tag;                       /* PSB__TAG_*: an execution, or a session's cell */
    bool kill_sent;                 /* asked the helper to stop the child */
    bool cancelled;                 /* the caller's token fired before the child's exit */
    bool have_exit;                 /* the STATUS frame arrived */
    struct psb__exit exit;          /* its contents */
    uint64_t exit_ns;               /* when it arrived */
};

/* The helper died or hung with this execution in flight. */
static psb_status helper_gone(psb_error *err, int errno_value) {
    psb__err_sys(err, errno_value, "the helper did not answer (it died or hung)");
    if (err && err->code == PSB_ESYS)
        err->code = PSB_EHELPER;
    return PSB_EHELPER;
}

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Asks the helper to kill the child now (once); a session's cancelled cell is interrupted. */
static void stop_child(struct run *r, bool cancel) {
    if (!r->kill_sent && r->fd[S_HELPER] >= 0) {
        char k = cancel && r->tag != PSB__TAG_EXEC ? PSB__HOST_INTERRUPT : PSB__HOST_KILL;
        (void)send(r->fd[S_HELPER], &k, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        r->kill_sent = true;
    }
}

static void kill_child(struct run *r) {
    stop_child(r, false);
}

/* The reply broke its rules: stop believing it and stop the child. */
static void reject(struct run *r, enum psb__reply_state why) {
    r->reply = why;
    close_fd(&r->fd[S_DATA]);
    psb__buf_free(&r->in.body);
    kill_child(r);
}

/* true if the input the library sent under name holds exactly data. */
static bool unchanged_input(const struct run *r, const char *name, const char *data, size_t len) {
    const psb_exec_options *o = r->inputs;
    for (size_t i = 0; o && i < o->n_files; i++) {
        const psb__buf *d = &o->files[i].data;
        if (strcmp(o->files[i].name, name) == 0)
            return d->len == len && (len == 0 || memcmp(d->data, data, len) == 0);
    }
    return false;
}

static void drain(struct run *r, int which);
static int send_frame_polled(struct run *r, uint32_t type, const void *a, size_t alen,
                             const void *b, size_t blen, uint64_t deadline_ns);

/*
 * The code called input() (an INPUT frame {password, prompt}): the output
 * so far goes to the output callback first, then the caller's line (or its
 * end of input) goes back. 0, or -1 when the frame is malformed.
 */
static int answer_prompt(struct run *r, const char *data, size_t len) {
    if ((unsigned char)data[0] > 1 || psb__has_nul(data + 1, len - 1) ||
        !psb__utf8_valid(data + 1, len - 1))
        return -1;
    char *prompt = strndup(data + 1, len - 1);
    if (!prompt)
        return -1;
    drain(r, S_OUT);
    drain(r, S_ERR);
    char *line = r->inputs->on_input(r->inputs->on_input_user, prompt, data[0]);
    free(prompt);
    size_t n = line ? strnlen(line, PSB__MAX_INPUT_LINE_BYTES) : 0;
    char tag = line ? PSB__INPUT_LINE : PSB__INPUT_EOF;
    /* The child waits for it: a full socket means it is gone, which the helper reports. */
    (void)send_frame_polled(r, PSB__FRAME_INPUT, &tag, 1, line, n, psb__now_ns() + 5000000000ull);
    free(line);
    return 0;
}

/* A whole frame arrived: check it and keep what it holds. 0, or -1 when malformed. */
static int take_frame(struct run *r) {
    struct frame_in *in = &r->in;
    const char *data = in->body.data ? in->body.data : "";
    size_t len = in->body.len;
    if (in->type == PSB__FRAME_INPUT) {
        return answer_prompt(r, data, len);
    } else if (in->type == PSB__FRAME_REPLY) {
        if (psb__claim_decode(data, len, &r->claim_doc, &r->claim) != 0)
            return -1;
        r->phase = PSB__PHASE_RESULT;
    } else if (in->type == PSB__FRAME_RESULT) {
        if (!psb__json_text_valid(data, len, RESULT_MAX_DEPTH))
            return -1;
        r->result = in->body;
        in->body = (psb__buf){0};
        r->phase = PSB__PHASE_EXTRAS;
    } else if (in->type == PSB__FRAME_FIGURE) {
        unsigned w, h;
        /* Every figure frame counts against the caps, kept or not. */
        r->count.figures++;
        r->count.figure_bytes += len;
        if (!psb__png_size(data, len, &w, &h)) {
            r->figures_dropped = true; /* not a PNG: never handed on */
            return 0;
        }
        struct psb__figure *grown = realloc(r->figures, (r->n_figures + 1) * sizeof *grown);
        if (!grown)
            return -1;
        r->figures = grown;
        struct psb__figure *f = &grown[r->n_figures++];
        memset(f, 0, sizeof *f);
        snprintf(f->mime, sizeof f->mime, "image/png"); /* set here, never by the child */
        f->width = w;
        f->height = h;
        f->data = in->body;
        in->body = (psb__buf){0};
    } else if (in->type == PSB__FRAME_DISPLAY) {
        r->count.displays++;
        r->count.display_bytes += len;
        struct psb__display *grown = realloc(r->displays, (r->n_displays + 1) * sizeof *grown);
        if (!grown)
            return -1;
        r->displays = grown;
        if (psb__display_take(&in->body, &grown[r->n_displays]) != 0)
            return -1;
        r->n_displays++;
    } else if (in->type == PSB__FRAME_FILE) {
        const char *name, *bytes;
        size_t n;
        if (psb__file_frame_parse(&in->body, &name, &bytes, &n) != 0)
            return -1;
        r->count.files++; /* every file frame counts, kept or not */
        r->count.file_bytes += n;
        if (unchanged_input(r, name, bytes, n))
            return 0;
        struct psb__file *grown = realloc(r->files, (r->n_files + 1) * sizeof *grown);
        if (!grown)
            return -1;
        r->files = grown;
        struct psb__file *f = &grown[r->n_files];
        memset(f, 0, sizeof *f);
        if (!(f->name = strdup(name)) || psb__buf_append(&f->data, bytes, n) != 0) {
            free(f->name);
            psb__buf_free(&f->data);
            return -1;
        }
        r->n_files++;
    } else {
        return -1;
    }
    return 0;
}

/* Feeds bytes from the data socket through the frame reader. */
static void feed(struct run *r, const char *p, size_t n) {
    struct frame_in *in = &r->in;
    while (n && r->fd[S_DATA] >= 0) {
        if (in->have < sizeof in->hdr) {
            size_t k = sizeof in->hdr - in->have < n ? sizeof in->hdr - in->have : n;
            memcpy(in->hdr + in->have, p, k);
            in->have += k;
            p += k;
            n -= k;
            if (in->have < sizeof in->hdr)
                return;
            uint32_t zero;
            memcpy(&in->type, in->hdr, 4);
            memcpy(&zero, in->hdr + 4, 4);
            memcpy(&in->len, in->hdr + 8, 8);
            bool prompt = in->type == PSB__FRAME_INPUT && r->inputs && r->inputs->on_input &&
                          r->phase == PSB__PHASE_REPLY && in->len >= 1 &&
                          in->len <= PSB__MAX_PROMPT_BYTES;
            enum psb__reply_state no =
                zero != 0 ? PSB__REPLY_MALFORMED
                : prompt  ? PSB__REPLY_NONE
                          : psb__frame_admit(r->phase, in->type, in->len, &r->count, r->limits);
            if (no != PSB__REPLY_NONE) {
                reject(r, no);
                return;
            }
            /* Buffered only as it arrives, never sized by the announced length. */
            if (psb__buf_append(&in->body, "", 0) != 0) {
                reject(r, PSB__REPLY_MALFORMED);
                return;
            }
        }
        size_t want = (size_t)(in->len - in->body.len);
        size_t k = want < n ? want : n;
        if (k && psb__buf_append(&in->body, p, k) != 0) {
            reject(r, PSB__REPLY_MALFORMED);
            return;
        }
        p += k;
        n -= k;
        if (in->body.len == in->len) {
            if (take_frame(r) != 0) {
                reject(r, PSB__REPLY_MALFORMED);
                return;
            }
            psb__buf_free(&in->body);
            in->have = 0;
        }
    }
}

/* Reads what one fd has, within the round's budget. */
static void drain(struct run *r, int which) {
    char chunk[65536];
    size_t budget = ROUND_BUDGET_BYTES;
    while (budget && r->fd[which] >= 0) {
        ssize_t n = read(r->fd[which], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (which == S_DATA) {
                /* EOF: the reply is whole if it ended between frames, after RESULT. */
                if (r->reply == PSB__REPLY_NONE && r->phase == PSB__PHASE_EXTRAS && r->in.have == 0)
                    r->reply = PSB__REPLY_COMPLETE;
                else if (r->reply == PSB__REPLY_NONE && r->phase == PSB__PHASE_EXTRAS)
                    r->reply = PSB__REPLY_MALFORMED;
            }
            close_fd(&r->fd[which]);
            return;
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
        if (which == S_DATA) {
            feed(r, chunk, (size_t)n);
            continue;
        }
        psb__buf *b = which == S_OUT ? &r->out : &r->err;
        bool *trunc = which == S_OUT ? &r->out_trunc : &r->err_trunc;
        uint64_t cap =
            r->limits->v[which == S_OUT ? PSB__LIMIT_STDOUT_BYTES : PSB__LIMIT_STDERR_BYTES];
        size_t keep = (size_t)n;
        if (b->len + keep > cap) {
            keep = cap > b->len ? (size_t)(cap - b->len) : 0;
            *trunc = true; /* the rest is read and dropped */
        }
        if (keep && psb__buf_append(b, chunk, keep) != 0) {
            *trunc = true;
            keep = 0;
        }
        if (keep && r->inputs && r->inputs->on_output)
            r->inputs->on_output(r->inputs->on_output_user, which == S_OUT ? 1 : 2, chunk, keep);
    }
}

/* The STATUS frame from the helper. 0; -1 when the helper went away or broke the protocol. */
static int read_status(struct run *r) {
    uint32_t type;
    psb__buf text = {0};
    int rc = -1;
    if (psb__frame_read(r->fd[S_HELPER], &type, &text, psb__now_ns() + 5000000000ull,
                        STATUS_MAX_BYTES) == 0 &&
        type == PSB__FRAME_STATUS && psb__exit_decode(text.data, text.len, &r->exit) == 0) {
        r->have_exit = true;
        r->exit_ns = psb__now_ns();
        rc = 0;
    }
    psb__buf_free(&text);
    return rc;
}

/*
 * Writes len bytes to the data socket while watching the helper's socket:
 * 0 when written; 1 when the child stopped reading (it failed, or the
 * helper has news); -1 with errno on a deadline or a dead helper.
 */
static int send_polled(struct run *r, const void *data, size_t len, uint64_t deadline_ns) {
    const char *p = data;
    while (len) {
        ssize_t n = send(r->fd[S_DATA], p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return 1; /* EPIPE, ECONNRESET: the child is gone */
        uint64_t now = psb__now_ns();
        if (now >= deadline_ns) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pf[2] = {{.fd = r->fd[S_DATA], .events = POLLOUT},
                               {.fd = r->fd[S_HELPER], .events = POLLIN}};
        int rc = poll(pf, 2, (int)((deadline_ns - now) / 1000000u) + 1);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc > 0 && pf[1].revents)
            return 1;
    }
    return 0;
}

static int send_frame_polled(struct run *r, uint32_t type, const void *a, size_t alen,
                             const void *b, size_t blen, uint64_t deadline_ns) {
    unsigned char hdr[16];
    uint32_t zero = 0;
    uint64_t len = (uint64_t)alen + blen;
    memcpy(hdr, &type, 4);
    memcpy(hdr + 4, &zero, 4);
    memcpy(hdr + 8, &len, 8);
    int rc = send_polled(r, hdr, sizeof hdr, deadline_ns);
    if (rc == 0 && alen)
        rc = send_polled(r, a, alen, deadline_ns);
    if (rc == 0 && blen)
        rc = send_polled(r, b, blen, deadline_ns);
    return rc;
}

/* The request, stdin and input files, straight to the child. 0, 1 or -1 as send_polled. */
static int send_request(struct run *r, const char *text, const psb_exec_options *o,
                        uint64_t deadline_ns) {
    int rc = send_frame_polled(r, PSB__FRAME_REQUEST, text, strlen(text), NULL, 0, deadline_ns);
    if (rc == 0 && o && o->has_stdin)
        rc = send_frame_polled(r, PSB__FRAME_STDIN, o->stdin_data.data, o->stdin_data.len, NULL, 0,
                               deadline_ns);
    for (size_t i = 0; rc == 0 && o && i < o->n_files; i++) {
        const struct psb__file *f = &o->files[i];
        rc = send_frame_polled(r, PSB__FRAME_FILE, f->name, strlen(f->name) + 1, f->data.data,
                               f->data.len, deadline_ns);
    }
    return rc;
}

/* Hands the child's ends of the channels and the control frame to the helper. */
static int hand_over(int helper, char tag, const json_t *req, int child_ends[3]) {
    json_t *control =
        json_pack("{s:O,s:O,s:O?}", PSB__KEY_LIMITS, json_object_get(req, PSB__KEY_LIMITS),
                  PSB__KEY_READABLE_PATHS, json_object_get(req, PSB__KEY_READABLE_PATHS),
                  PSB__KEY_WRITABLE, json_object_get(req, PSB__KEY_WRITABLE));
    char *text = control ? json_dumps(control, JSON_COMPACT) : NULL;
    json_decref(control);
    int rc = text && psb__send_fds_tagged(helper, tag, child_ends, 3) == 0 &&
                     psb__frame_write(helper, PSB__FRAME_CONTROL, text, strlen(text)) == 0
                 ? 0
                 : -1;
    free(text);
    return rc;
}

static void run_free(struct run *r) {
    for (int i = S_DATA; i <= S_ERR; i++)
        close_fd(&r->fd[i]);
    psb__buf_free(&r->out);
    psb__buf_free(&r->err);
    psb__buf_free(&r->in.body);
    psb__buf_free(&r->result);
    json_decref(r->claim_doc);
    for (size_t i = 0; i < r->n_figures; i++)
        psb__buf_free(&r->figures[i].data);
    free(r->figures);
    psb__displays_free(r->displays, r->n_displays);
    psb__files_free(r->files, r->n_files);
}

/* A copy of a member of the claim; NULL when absent, *failed when out of memory. */
static char *claim_copy(const char *s, bool *failed) {
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        *failed = true;
    return copy;
}

/* The outcome, from the verdict and what was read. NULL when out of memory. */
static psb_outcome *build_outcome(struct run *r) {
    psb_outcome *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    char msg[320];
    enum psb__verdict_detail detail;
    const struct psb__claim *c = &r->claim;
    o->kind = psb__verdict(&r->exit, r->reply, c->kind, r->limits, msg, sizeof msg, &detail);
    if (r->cancelled && o->kind != PSB_KIND_NONE) {
        /* Whatever the child's end looked like, it was the caller's doing. */
        o->kind = PSB_KIND_CANCELLED;
        detail = PSB__DETAIL_NONE;
        snprintf(msg, sizeof msg, "the execution was cancelled");
    }
    o->ok = o->kind == PSB_KIND_NONE;
    bool failed = false;
    if (detail == PSB__DETAIL_CLAIM) {
        o->type = claim_copy(c->type, &failed);
        o->message = claim_copy(c->message, &failed);
        o->traceback = claim_copy(c->traceback, &failed);
        o->module = claim_copy(c->module, &failed);
        o->event = claim_copy(c->event, &failed);
    } else if (!o->ok) {
        if (detail == PSB__DETAIL_TRACEBACK)
            o->traceback = claim_copy(c->traceback, &failed);
        if (!(o->message = strdup(msg)))
            failed = true;
    }
    o->result_json = o->ok && r->result.len ? psb__buf_steal(&r->result) : strdup("null");
    failed |= !o->result_json;
    o->out = r->out;
    o->err = r->err;
    r->out = r->err = (psb__buf){0};
    o->out_trunc = r->out_trunc;
    o->err_trunc = r->err_trunc;
    o->stats = r->exit.stats;
    /* Figures and files come with any reply the child completed, not after a timeout. */
    if (r->reply == PSB__REPLY_COMPLETE && o->kind != PSB_KIND_TIMEOUT) {
        o->figures = r->figures;
        o->n_figures = r->n_figures;
        o->files = r->files;
        o->n_files = r->n_files;
        o->displays = r->displays;
        o->n_displays = r->n_displays;
        r->figures = NULL;
        r->files = NULL;
        r->displays = NULL;
        r->n_figures = r->n_files = r->n_displays = 0;
        o->figures_trunc = r->figures_dropped || c->figures_truncated;
        o->displays_trunc = c->displays_truncated;
    }
    if (failed) {
        psb_outcome_free(o);
        return NULL;
    }
    return o;
}

/*
 * Reads the streams, the reply and the helper's STATUS until the child has
 * gone and its streams are drained (or held open too long after its exit).
 * PSB_EHELPER when the helper died or passed the deadline.
 */
static psb_status pump(struct run *r, uint64_t deadline, psb_error *err) {
    for (;;) {
        bool streams_open = r->fd[S_DATA] >= 0 || r->fd[S_OUT] >= 0 || r->fd[S_ERR] >= 0;
        if (r->have_exit && !streams_open)
            return PSB_OK;
        uint64_t now = psb__now_ns();
        if (r->have_exit && now >= r->exit_ns + DRAIN_AFTER_EXIT_NS) {
            /* Held open past the child's exit (an fd passed away): close by force. */
            if (r->fd[S_DATA] >= 0)
                reject(r, r->reply == PSB__REPLY_NONE && r->phase != PSB__PHASE_EXTRAS
                              ? PSB__REPLY_NONE
                              : PSB__REPLY_MALFORMED);
            close_fd(&r->fd[S_OUT]);
            close_fd(&r->fd[S_ERR]);
            return PSB_OK;
        }
        if (!r->have_exit && now >= deadline)
            return helper_gone(err, ETIMEDOUT);
        struct pollfd pf[NFDS];
        for (int i = 0; i < NFDS; i++)
            pf[i] = (struct pollfd){
                .fd = (i == S_HELPER || i == S_CANCEL) && r->have_exit ? -1 : r->fd[i],
                .events = POLLIN};
        uint64_t until = r->have_exit ? r->exit_ns + DRAIN_AFTER_EXIT_NS : deadline;
        int rc = poll(pf, NFDS, until > now ? (int)((until - now) / 1000000u) + 1 : 0);
        if (rc < 0 && errno != EINTR) {
            return psb__err_sys(err, errno, "poll");
        }
        if (rc <= 0)
            continue;
        for (int i = S_DATA; i <= S_ERR; i++)
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
                drain(r, i);
        if (pf[S_CANCEL].revents & POLLIN) {
            r->cancelled = true; /* the token stays readable: stop watching it */
            r->fd[S_CANCEL] = -1;
            stop_child(r, true);
        }
        if (pf[S_HELPER].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (read_status(r) != 0)
                return helper_gone(err, ECONNRESET);
        }
    }
}

psb_status psb__exec_run(int helper, char tag, const json_t *req, const char *req_text,
                         const psb_exec_options *options, const psb__limits *limits,
                         psb_outcome **ret_outcome, struct psb__exit *ret_exit, psb_error *err) {
    struct run r = {.limits = limits, .inputs = options, .reply = PSB__REPLY_NONE, .tag = tag};
    int sv[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1};
    psb_status st = PSB_OK;
    for (int i = 0; i < NFDS; i++)
        r.fd[i] = -1;
    r.fd[S_HELPER] = helper;
    r.fd[S_CANCEL] = options && options->cancel ? options->cancel->fd : -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        st = psb__err_sys(err, errno, "cannot create the execution's channels");
        goto out;
    }
    r.fd[S_DATA] = sv[0];
    r.fd[S_OUT] = outp[0];
    r.fd[S_ERR] = errp[0];
    int child_ends[3] = {sv[1], outp[1], errp[1]};
    int handed = hand_over(helper, tag, req, child_ends);
    /* Only the child holds these now: EOF on each means it is gone. */
    close_fd(&sv[1]);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    if (handed != 0) {
        st = psb__err(err, PSB_EHELPER, "cannot send the request to the helper");
        goto out;
    }
    for (int i = S_DATA; i <= S_ERR; i++)
        fcntl(r.fd[i], F_SETFL, O_NONBLOCK);
    uint64_t deadline =
        psb__now_ns() + (limits->v[PSB__LIMIT_TIMEOUT_MS] + HELPER_GRACE_MS) * 1000000u;
    if (send_request(&r, req_text, options, deadline) < 0) {
        st = helper_gone(err, errno);
        goto out;
    }
    st = pump(&r, deadline, err);
    if (st != PSB_OK)
        goto out;
    if (!(*ret_outcome = build_outcome(&r)))
        st = psb__err(err, PSB_ENOMEM, "out of memory");
    else if (ret_exit)
        *ret_exit = r.exit;
out:
    close_fd(&sv[1]);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    run_free(&r);
    return st;
}
