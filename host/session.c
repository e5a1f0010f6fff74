/*
 * host/session.c - psb_session: one confined child that runs cell after
 * cell in the same interpreter. The library keeps a socket to the helper
 * for it; each cell travels like an execution (its own channels, straight
 * to the child; the helper passes them on unread and keeps the cell's
 * clock), and the helper's STATUS after each says whether the process
 * lives on. Cells of one session run one at a time.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/host.h"

struct psb_session {
    psb_sandbox *sb;            /* the sandbox whose helper runs it */
    pthread_mutex_t lock;       /* one cell at a time; guards everything below */
    int fd;                     /* the session's socket to the helper, -1 once over */
    pid_t helper;               /* the helper it runs on */
    json_t *req;                /* the request every cell starts from (session-level fields) */
    psb__limits limits;         /* the session's limits */
    psb_error_kind end_kind;    /* why it ended (PSB_KIND_NONE while alive) */
    char end_message[512];      /* and the message that said so */
    struct psb_snapshot *snaps; /* its snapshots' handles (orphaned when it is freed) */
};

struct psb_snapshot {
    psb_session *owner;        /* NULL once the session was freed */
    unsigned id;               /* the helper's */
    struct psb_snapshot *next; /* the owner's list */
};

/* Limits a cell may set for itself; every other one is the session's. */
static const enum psb__limit_id cell_limits[] = {
    PSB__LIMIT_TIMEOUT_MS,    PSB__LIMIT_STDOUT_BYTES,   PSB__LIMIT_STDERR_BYTES,
    PSB__LIMIT_RESULT_BYTES,  PSB__LIMIT_FIGURES_BYTES,  PSB__LIMIT_FILES_BYTES,
    PSB__LIMIT_DISPLAY_BYTES, PSB__LIMIT_DISPLAYS_BYTES,
};

static bool is_cell_limit(int id) {
    for (size_t i = 0; i < sizeof cell_limits / sizeof cell_limits[0]; i++)
        if ((int)cell_limits[i] == id)
            return true;
    return false;
}

/* Options that only a session's creation may carry (stdin: none at all). */
static psb_status check_cell_options(const psb_exec_options *o, psb_error *err) {
    if (!o)
        return PSB_OK;
    for (int i = 0; i < PSB__LIMIT_COUNT; i++)
        if (o->has_limit[i] && !is_cell_limit(i))
            return psb__err(err, PSB_EINVAL,
                            "psb_session_exec: the limit %s is the session's: set it in the "
                            "options of psb_session_new()",
                            psb__limit_key((enum psb__limit_id)i));
    if (o->env || o->prelude || o->import_rules)
        return psb__err(err, PSB_EINVAL,
                        "psb_session_exec: env, prelude and import rules are the session's: set "
                        "them in the options of psb_session_new()");
    if (o->has_stdin)
        return psb__err(err, PSB_EINVAL, "psb_session_exec: a session's cells have no stdin");
    return PSB_OK;
}

/* Ends the session (once): its socket closed, so the helper stops its child. */
static void end_session(psb_session *s, psb_error_kind kind, const char *message) {
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->end_kind == PSB_KIND_NONE) {
        s->end_kind = kind;
        snprintf(s->end_message, sizeof s->end_message, "%s", message);
    }
}

/* A fresh outcome saying the session is over; NULL when out of memory. */
static psb_outcome *ended_outcome(const psb_session *s) {
    char msg[sizeof s->end_message + 32];
    snprintf(msg, sizeof msg, "the session has ended: %s", s->end_message);
    return psb__outcome_error(PSB_KIND_SESSION_LOST, msg);
}

/* Why the helper ended it, in words, or NULL. */
static const char *expiry(const psb_session *s, psb__session_end ended, char *buf, size_t size) {
    if (ended == PSB__END_LIFETIME)
        snprintf(buf, size, "the session reached its lifetime of %llu s",
                 (unsigned long long)s->limits.v[PSB__LIMIT_SESSION_LIFETIME_S]);
    else if (ended == PSB__END_IDLE)
        snprintf(buf, size, "the session was closed after %llu s without a cell",
                 (unsigned long long)s->limits.v[PSB__LIMIT_SESSION_IDLE_S]);
    else
        return NULL;
    return buf;
}

/*
 * The session's process is gone with this cell: memory and CPU limits keep
 * their kind (they are why), everything else is session_lost; either way
 * the message says the session ended, and later cells get the same.
 */
static void cell_ended_session(psb_session *s, psb_outcome *o, const struct psb__exit *x) {
    char why[200], msg[512];
    const char *expired = expiry(s, x->ended, why, sizeof why);
    bool limit = o->kind == PSB_KIND_MEMORY_LIMIT || o->kind == PSB_KIND_CPU_LIMIT;
    if (!expired && x->timed_out)
        expired = "the cell did not stop within the grace after its time limit was interrupted";
    snprintf(msg, sizeof msg, "%s; the session has ended",
             expired      ? expired
             : o->message ? o->message
                          : "its process exited");
    if (!limit && o->kind != PSB_KIND_CANCELLED) {
        o->kind = PSB_KIND_SESSION_LOST;
        free(o->type);
        free(o->module);
        free(o->event);
        o->type = o->module = o->event = NULL;
    }
    o->ok = false;
    char *copy = strdup(msg);
    if (copy) {
        free(o->message);
        o->message = copy;
    }
    end_session(s, o->kind == PSB_KIND_CANCELLED ? PSB_KIND_SESSION_LOST : o->kind, msg);
}

/*
 * Between cells the helper writes on the socket only to say the session
 * ended (idle, lifetime, its process died): read that STATUS if it is there.
 */
static void check_idle_end(psb_session *s) {
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return;
    uint32_t type;
    psb__buf text = {0};
    struct psb__exit x;
    char why[200], msg[320];
    if (psb__frame_read(s->fd, &type, &text, psb__now_ns() + 1000000000ull, 1u << 16) == 0 &&
        type == PSB__FRAME_STATUS && psb__exit_decode(text.data, text.len, &x) == 0) {
        const char *expired = expiry(s, x.ended, why, sizeof why);
        if (expired)
            snprintf(msg, sizeof msg, "%s", expired);
        else if (x.oom)
            snprintf(msg, sizeof msg, "its memory limit of %llu MiB was reached between cells",
                     (unsigned long long)s->limits.v[PSB__LIMIT_MEMORY_MIB]);
        else if (x.signal)
            snprintf(msg, sizeof msg, "its process was killed by signal %d between cells",
                     x.signal);
        else
            snprintf(msg, sizeof msg, "its process exited with status %d between cells", x.code);
    } else {
        snprintf(msg, sizeof msg, "the sandbox helper went away");
    }
    psb__buf_free(&text);
    end_session(s, PSB_KIND_SESSION_LOST, msg);
}

/* One cell's request: the session's, with this cell's code, inputs, files and limits. */
static json_t *cell_request(const psb_session *s, const psb_exec_options *o, const char *code,
                            size_t len, psb__limits *ret_limits, psb_error *err) {
    json_t *req = json_copy(s->req), *limits = json_object(), *names = json_array();
    *ret_limits = s->limits;
    for (size_t i = 0; o && i < sizeof cell_limits / sizeof cell_limits[0]; i++)
        if (o->has_limit[cell_limits[i]])
            ret_limits->v[cell_limits[i]] = o->limits.v[cell_limits[i]];
    for (int i = 0; limits && i < PSB__LIMIT_COUNT; i++)
        json_object_set_new(limits, psb__limit_key((enum psb__limit_id)i),
                            json_integer((json_int_t)ret_limits->v[i]));
    for (size_t k = 0; names && o && k < o->n_files; k++)
        json_array_append_new(names, json_string(o->files[k].name));
    if (!req || !limits || !names ||
        json_object_set_new(req, PSB__KEY_CODE, json_stringn(code ? code : "", len)) != 0 ||
        json_object_set_new(req, PSB__KEY_LIMITS, limits) != 0 ||
        json_object_set_new(req, PSB__KEY_FILES, names) != 0 ||
        json_object_set_new(req, PSB__KEY_INPUT, json_boolean(o && o->on_input)) != 0 ||
        (o && o->inputs && json_object_set(req, PSB__KEY_INPUTS, o->inputs) != 0)) {
        json_decref(req);
        psb__err(err, PSB_ENOMEM, "out of memory building the cell");
        return NULL;
    }
    limits = names = NULL; /* the request holds them */
    json_object_del(req, PSB__KEY_PRELUDE);
    if (!(o && o->inputs))
        json_object_del(req, PSB__KEY_INPUTS);
    return req;
}

/*
 * Runs one cell (the first: tag PSB__TAG_SESSION). Caller holds the lock.
 * PSB_OK with an outcome, whatever the code did.
 */
static psb_status run_cell(psb_session *s, char tag, json_t *req, const psb__limits *limits,
                           const psb_exec_options *o, psb_outcome **ret, psb_error *err) {
    char *text = json_dumps(req, JSON_COMPACT);
    if (!text)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    const psb_cancel *cancel = o ? o->cancel : NULL;
    psb_status st = PSB_OK;
    if (psb_cancel_fired(cancel) || !psb__sandbox_acquire(s->sb, cancel)) {
        *ret = psb__outcome_error(PSB_KIND_CANCELLED, "the execution was cancelled");
        free(text);
        return *ret ? PSB_OK : psb__err(err, PSB_ENOMEM, "out of memory");
    }
    struct psb__exit x;
    memset(&x, 0, sizeof x);
    psb_error run_err = {0};
    st = psb__exec_run(s->fd, tag, req, text, o, limits, ret, &x, &run_err);
    psb__sandbox_release(s->sb);
    free(text);
    if (st == PSB_EHELPER) {
        /* The helper died or hung: the session went with it, and so did the helper's state. */
        psb__sandbox_helper_lost(s->sb, s->helper);
        end_session(s, PSB_KIND_SESSION_LOST, "the sandbox helper died during a cell");
        *ret = ended_outcome(s);
        return *ret ? PSB_OK : psb__err(err, PSB_ENOMEM, "out of memory");
    }
    if (st != PSB_OK) {
        if (err && err->code == PSB_OK)
            *err = run_err;
        return st;
    }
    if (!x.alive)
        cell_ended_session(s, *ret, &x);
    return PSB_OK;
}

psb_status psb_session_new(psb_sandbox *sb, const psb_exec_options *options,
                           psb_session **ret_session, psb_error *err) {
    if (!sb || !ret_session)
        return psb__err(err, PSB_EINVAL, "psb_session_new: NULL argument");
    if (options && options->has_stdin)
        return psb__err(err, PSB_EINVAL, "psb_session_new: a session's cells have no stdin");
    psb_session *s = calloc(1, sizeof *s);
    if (!s)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    s->sb = sb;
    s->fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    psb_status st = PSB_OK;
    psb_outcome *first = NULL;
    /* The first cell runs the prelude, if any, and binds `inputs`. */
    json_t *sites = NULL;
    st = psb__sandbox_external(sb)
             ? psb__err(err, PSB_EUNSUPPORTED,
                        "sessions need the embedded interpreter: this sandbox runs an external one")
             : psb__sandbox_sites(sb, options, &sites, err);
    s->req =
        st ? NULL
           : psb__request_build(psb__sandbox_policy(sb), options,
                                sites ? sites : psb__sandbox_own_sites(sb), "", 0, &s->limits, err);
    json_decref(sites);
    if (!s->req || json_object_set_new(s->req, PSB__KEY_SESSION, json_true()) != 0) {
        st = s->req ? psb__err(err, PSB_ENOMEM, "out of memory")
                    : (st ? st : (err && err->code ? err->code : PSB_EINVAL));
        goto fail;
    }
    st = psb__sandbox_open_channel(sb, &s->fd, &s->helper, err);
    if (st != PSB_OK)
        goto fail;
    st = run_cell(s, PSB__TAG_SESSION, s->req, &s->limits, options, &first, err);
    if (st != PSB_OK)
        goto fail;
    if (!psb_outcome_ok(first)) {
        psb_error_kind k = psb_outcome_error_kind(first);
        bool code = k == PSB_KIND_EXCEPTION || k == PSB_KIND_SYNTAX_ERROR ||
                    k == PSB_KIND_IMPORT_DENIED || k == PSB_KIND_DENIED;
        const char *type = psb_outcome_error_type(first);
        const char *msg = psb_outcome_error_message(first);
        st = psb__err(err, code ? PSB_EINVAL : PSB_EHELPER,
                      "the session could not start: %s: %s%s%s", psb_error_kind_name(k),
                      type ? type : "", type ? ": " : "", msg ? msg : "");
        goto fail;
    }
    /* Later cells bind `inputs` only when they bring their own. */
    json_object_del(s->req, PSB__KEY_INPUTS);
    psb_outcome_free(first);
    *ret_session = s;
    return PSB_OK;
fail:
    psb_outcome_free(first);
    psb_session_free(s);
    return st;
}

/* A cell, or with ask a question (its wire name) about code at cursor. */
static psb_status exec_cell(psb_session *s, const char *code, size_t len, const char *ask,
                            size_t cursor, const psb_exec_options *options,
                            psb_outcome **ret_outcome, psb_error *err) {
    psb_status st = psb__code_check(code, len, "code", err);
    if (st == PSB_OK)
        st = check_cell_options(options, err);
    if (st != PSB_OK)
        return st;
    pthread_mutex_lock(&s->lock);
    if (s->fd >= 0)
        check_idle_end(s);
    if (s->fd < 0) {
        *ret_outcome = ended_outcome(s);
        st = *ret_outcome ? PSB_OK : psb__err(err, PSB_ENOMEM, "out of memory");
        goto out;
    }
    psb__limits limits;
    json_t *req = cell_request(s, options, code, len, &limits, err);
    if (req && ask &&
        (json_object_set_new(req, PSB__KEY_ASK, json_string(ask)) != 0 ||
         json_object_set_new(req, PSB__KEY_CURSOR, json_integer((json_int_t)cursor)) != 0)) {
        json_decref(req);
        req = NULL;
        psb__err(err, PSB_ENOMEM, "out of memory building the question");
    }
    if (!req) {
        st = PSB_ENOMEM;
        goto out;
    }
    st = run_cell(s, PSB__TAG_CELL, req, &limits, options, ret_outcome, err);
    json_decref(req);
out:
    pthread_mutex_unlock(&s->lock);
    return st;
}

psb_status psb_session_exec(psb_session *s, const char *code, size_t len,
                            const psb_exec_options *options, psb_outcome **ret_outcome,
                            psb_error *err) {
    if (!s || !ret_outcome)
        return psb__err(err, PSB_EINVAL, "psb_session_exec: NULL argument");
    return exec_cell(s, code, len, NULL, 0, options, ret_outcome, err);
}

psb_status psb_session_ask(psb_session *s, psb_ask question, const char *code, size_t len,
                           size_t cursor, const psb_exec_options *options,
                           psb_outcome **ret_outcome, psb_error *err) {
    static const char *const names[] = {
        [PSB_ASK_COMPLETE] = "complete",
        [PSB_ASK_INSPECT] = "inspect",
        [PSB_ASK_INSPECT_DETAIL] = "inspect_detail",
        [PSB_ASK_IS_COMPLETE] = "is_complete",
        [PSB_ASK_EXPRESSIONS] = "expressions",
    };
    if (!s || !ret_outcome)
        return psb__err(err, PSB_EINVAL, "psb_session_ask: NULL argument");
    if ((unsigned)question >= sizeof names / sizeof names[0])
        return psb__err(err, PSB_EINVAL, "psb_session_ask: unknown question %d", (int)question);
    if (options && options->on_input)
        return psb__err(err, PSB_EINVAL, "psb_session_ask: a question takes no input callback");
    size_t points = 0;
    for (size_t i = 0; code && i < len; i++)
        points += ((unsigned char)code[i] & 0xc0) != 0x80;
    if (cursor > points)
        return psb__err(err, PSB_EINVAL,
                        "psb_session_ask: the cursor %zu is past the code's %zu characters", cursor,
                        points);
    return exec_cell(s, code, len, names[question], cursor, options, ret_outcome, err);
}

int psb_session_alive(psb_session *s) {
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (s->fd >= 0)
        check_idle_end(s);
    int alive = s->fd >= 0;
    pthread_mutex_unlock(&s->lock);
    return alive;
}

/* The helper's answer to an operation (an OP frame), or the session's end. NULL: see err. */
static json_t *operate(psb_session *s, const char *op, unsigned id, int fd, psb_error *err) {
    json_t *req = json_pack("{s:s}", "op", op);
    char *text = NULL;
    json_t *answer = NULL;
    if (req && id)
        json_object_set_new(req, "snapshot", json_integer((json_int_t)id));
    if (!req || !(text = json_dumps(req, JSON_COMPACT))) {
        psb__err(err, PSB_ENOMEM, "out of memory");
        goto out;
    }
    char tag = PSB__TAG_OP;
    int sent = fd >= 0 ? psb__send_fds_tagged(s->fd, tag, &fd, 1)
                       : (send(s->fd, &tag, 1, MSG_NOSIGNAL) == 1 ? 0 : -1);
    uint32_t type = 0;
    psb__buf in = {0};
    /* Copying the working directory and forking: the helper bounds it at 30 s. */
    if (sent != 0 || psb__frame_write(s->fd, PSB__FRAME_OP, text, strlen(text)) != 0 ||
        psb__frame_read(s->fd, &type, &in, psb__now_ns() + 40000000000ull, 1u << 16) != 0 ||
        type != PSB__FRAME_OP || !(answer = json_loadb(in.data, in.len, 0, NULL))) {
        psb__buf_free(&in);
        end_session(s, PSB_KIND_SESSION_LOST, "the sandbox helper did not answer an operation");
        psb__err(err, PSB_EHELPER, "psb_session_%s: the sandbox helper did not answer", op);
        goto out;
    }
    psb__buf_free(&in);
    const char *why = json_string_value(json_object_get(answer, "error"));
    const char *code = json_string_value(json_object_get(answer, "code"));
    if (why) {
        bool lost = code && strcmp(code, "lost") == 0;
        bool invalid = code && strcmp(code, "invalid") == 0;
        if (lost)
            end_session(s, PSB_KIND_SESSION_LOST, why);
        psb__err(err, invalid ? PSB_EINVAL : PSB_EHELPER, "psb_session_%s: %s%s", op, why,
                 lost ? "; the session has ended" : "");
        json_decref(answer);
        answer = NULL;
    }
out:
    free(text);
    json_decref(req);
    return answer;
}

/* The session is there and alive. Caller holds the lock. */
static psb_status usable(psb_session *s, const char *what, psb_error *err) {
    if (s->fd >= 0)
        check_idle_end(s);
    if (s->fd < 0)
        return psb__err(err, PSB_EINVAL, "%s: the session has ended: %s", what, s->end_message);
    return PSB_OK;
}

psb_status psb_session_snapshot(psb_session *s, psb_snapshot **ret_snapshot, psb_error *err) {
    if (!s || !ret_snapshot)
        return psb__err(err, PSB_EINVAL, "psb_session_snapshot: NULL argument");
    psb_snapshot *snap = calloc(1, sizeof *snap);
    if (!snap)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    pthread_mutex_lock(&s->lock);
    psb_status st = usable(s, "psb_session_snapshot", err);
    json_t *answer = st == PSB_OK ? operate(s, "snapshot", 0, -1, err) : NULL;
    json_int_t id = json_integer_value(json_object_get(answer, "snapshot"));
    if (st == PSB_OK && !answer)
        st = err && err->code ? err->code : PSB_EHELPER;
    else if (st == PSB_OK && (id <= 0 || id > (json_int_t)UINT32_MAX))
        st = psb__err(err, PSB_EPROTO, "psb_session_snapshot: a malformed answer");
    if (st == PSB_OK) {
        *snap = (psb_snapshot){.owner = s, .id = (unsigned)id, .next = s->snaps};
        s->snaps = snap;
        *ret_snapshot = snap;
        snap = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(answer);
    free(snap);
    return st;
}

psb_status psb_session_restore(psb_session *s, const psb_snapshot *snap, psb_error *err) {
    if (!s || !snap)
        return psb__err(err, PSB_EINVAL, "psb_session_restore: NULL argument");
    if (snap->owner != s)
        return psb__err(err, PSB_EINVAL, "psb_session_restore: the snapshot is another session's");
    pthread_mutex_lock(&s->lock);
    psb_status st = usable(s, "psb_session_restore", err);
    json_t *answer = st == PSB_OK ? operate(s, "restore", snap->id, -1, err) : NULL;
    if (st == PSB_OK && !answer)
        st = err && err->code ? err->code : PSB_EHELPER;
    pthread_mutex_unlock(&s->lock);
    json_decref(answer);
    return st;
}

psb_status psb_session_branch(psb_snapshot *snap, psb_session **ret_session, psb_error *err) {
    if (!snap || !ret_session)
        return psb__err(err, PSB_EINVAL, "psb_session_branch: NULL argument");
    psb_session *s = snap->owner;
    if (!s)
        return psb__err(err, PSB_EINVAL, "psb_session_branch: the snapshot's session was freed");
    psb_session *b = calloc(1, sizeof *b);
    int sv[2] = {-1, -1};
    if (!b || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        free(b);
        return psb__err(err, PSB_ENOMEM, "psb_session_branch: out of memory or fds");
    }
    pthread_mutex_init(&b->lock, NULL);
    b->fd = -1;
    pthread_mutex_lock(&s->lock);
    psb_status st = usable(s, "psb_session_branch", err);
    json_t *answer = st == PSB_OK ? operate(s, "branch", snap->id, sv[1], err) : NULL;
    if (st == PSB_OK && !answer)
        st = err && err->code ? err->code : PSB_EHELPER;
    if (st == PSB_OK) {
        /* The new session's socket reaches its own job in the same helper. */
        b->sb = s->sb;
        b->helper = s->helper;
        b->limits = s->limits;
        b->fd = sv[0];
        sv[0] = -1;
        if (!(b->req = json_deep_copy(s->req)))
            st = psb__err(err, PSB_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&s->lock);
    close(sv[1]);
    if (sv[0] >= 0)
        close(sv[0]);
    json_decref(answer);
    if (st != PSB_OK) {
        psb_session_free(b);
        return st;
    }
    *ret_session = b;
    return PSB_OK;
}

void psb_snapshot_free(psb_snapshot *snap) {
    if (!snap)
        return;
    psb_session *s = snap->owner;
    if (s) {
        pthread_mutex_lock(&s->lock);
        psb_snapshot **p = &s->snaps;
        while (*p && *p != snap)
            p = &(*p)->next;
        if (*p)
            *p = snap->next;
        if (s->fd >= 0)
            json_decref(operate(s, "drop", snap->id, -1, NULL)); /* its process stops */
        pthread_mutex_unlock(&s->lock);
    }
    free(snap);
}

void psb_session_free(psb_session *s) {
    if (!s)
        return;
    for (psb_snapshot *p = s->snaps; p; p = p->next)
        p->owner = NULL; /* their processes stop with the session's */
    if (s->fd >= 0)
        close(s->fd); /* the helper stops the child when its socket closes */
    json_decref(s->req);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
