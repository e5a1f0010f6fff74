/*
 * serve.c - `pysandbox serve`: executions as JSON lines, over stdio or a
 * unix socket. Each line is one request; each request gets exactly one
 * response (and, when it asks for streaming, output events before it),
 * answered as it finishes. A line that is not a valid request gets one
 * error response and changes nothing. The transports are in server.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/base.h"
#include "cli/serve.h"

/* A connection is freed once its reader and its last execution let go of it. */
static void conn_unref(struct serve_conn *c) {
    pthread_mutex_lock(&c->lock);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        c->srv->on_conn_gone(c);
        cli_out_release(&c->out);
        pthread_mutex_destroy(&c->lock);
        free(c);
    }
}

struct serve_conn *serve_conn_new(struct serve *srv, int in_fd, int out_fd, bool socket) {
    struct serve_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    c->in_fd = in_fd;
    c->refs = 1; /* the reader's */
    pthread_mutex_init(&c->lock, NULL);
    cli_out_init(&c->out, out_fd);
    c->out.socket = socket;
    return c;
}

void serve_conn_close(struct serve_conn *c, bool cancel) {
    cli_sessions_close_owner(&c->srv->engine, c); /* sessions close with their client */
    if (cancel) { /* the client is gone: nobody wants what is still running */
        pthread_mutex_lock(&c->lock);
        for (struct cli_exec *x = c->execs; x; x = x->next)
            psb_cancel_fire(x->cancel);
        pthread_mutex_unlock(&c->lock);
    }
    conn_unref(c);
}

/* {"id": id, "error": {"code", "message", "field"}}: id may be NULL (null). */
static void send_fault(struct serve_conn *c, json_t *id, const struct cli_fault *f) {
    char message[CLI_FIELD_MAX + sizeof f->message + 4];
    snprintf(message, sizeof message, "%s%s%s", f->field, f->field[0] ? ": " : "", f->message);
    json_t *doc = json_pack("{s:O?,s:{s:s,s:s,s:s?}}", "id", id, "error", "code", f->code,
                            "message", message, "field", f->field[0] ? f->field : NULL);
    if (doc && !id)
        json_object_set_new(doc, "id", json_null());
    cli_out_json(&c->out, doc);
}

static void on_output(struct cli_exec *x, int stream, json_t *text) {
    struct serve_conn *c = x->owner;
    cli_out_json(&c->out, json_pack("{s:O,s:s,s:O}", "id", x->id, "event",
                                    stream == 1 ? "stdout" : "stderr", "data", text));
}

/* Unlinks x from its connection's list. */
static void forget(struct serve_conn *c, struct cli_exec *x) {
    pthread_mutex_lock(&c->lock);
    cli_exec_unlink(&c->execs, x);
    pthread_mutex_unlock(&c->lock);
}

static void on_done(struct cli_exec *x, const psb_outcome *outcome, const psb_error *err) {
    struct serve_conn *c = x->owner;
    /* Forgotten first: once the client has the answer, it may reuse the id. */
    forget(c, x);
    if (x->create || (!outcome && err && err->code == PSB_EINVAL)) {
        /* A session made (or not), or a cell the library refused as it was asked. */
        struct cli_fault f = {0};
        if (x->create && err->code == PSB_OK)
            cli_out_json(&c->out, json_pack("{s:O,s:s}", "id", x->id, "session", x->session->name));
        else
            cli_fault_set(&f, x->create ? "session_failed" : "invalid_request", "", "%s",
                          err->message);
        if (f.code)
            send_fault(c, x->id, &f);
        conn_unref(c);
        return;
    }
    const char *text = outcome ? psb_outcome_json(outcome) : NULL;
    char *id = psb__json_dumps(x->id);
    if (text && id) {
        /* The outcome is spliced in as the library wrote it (the result is not re-parsed). */
        size_t n = strlen(id) + strlen(text) + 32;
        char *line = malloc(n);
        if (line) {
            int len = snprintf(line, n, "{\"id\":%s,\"outcome\":%s}\n", id, text);
            cli_out_text(&c->out, line, (size_t)len);
        }
        free(line);
    } else {
        struct cli_fault f = {0};
        cli_fault_set(&f, "internal", "", "%s",
                      err && err->message[0] ? err->message : "out of memory");
        send_fault(c, x->id, &f);
    }
    free(id);
    conn_unref(c);
}

static const struct cli_exec_ops serve_ops = {on_output, on_done};

/* The execution in flight on c under key, or NULL. Call with c->lock held. */
static struct cli_exec *find(struct serve_conn *c, const char *key) {
    struct cli_exec *x = c->execs;
    while (x && strcmp(x->key, key) != 0)
        x = x->next;
    return x;
}

/* The "session" field: absent (NULL), or a name. -1 with *f when malformed. */
static int session_name(json_t *req, const char **ret, struct cli_fault *f) {
    json_t *v = json_object_get(req, "session");
    *ret = json_string_value(v);
    if (v && (!*ret || json_string_length(v) == 0 || json_string_length(v) > 128 ||
              !psb__utf8_valid(*ret, json_string_length(v)) ||
              memchr(*ret, '\0', json_string_length(v))))
        return cli_fault_set(f, "wrong_type", "session", "must be a name of 1 to 128 characters");
    return 0;
}

/*
 * ops "run" (in a session when it names one) and "session_new": 0 when it
 * started (its answer comes later), -1 with *f.
 */
static int op_run(struct serve_conn *c, json_t *req, json_t *id, bool create, struct cli_fault *f) {
    unsigned allow = CLI_REQ_ENVELOPE | (c->srv->allow_widen ? CLI_REQ_WIDEN : 0u) |
                     (create ? CLI_REQ_NO_CODE : 0u);
    const char *session = NULL;
    if (session_name(req, &session, f) != 0)
        return -1;
    if (create && json_object_get(req, "code"))
        return cli_fault_set(f, "unknown_field", "code",
                             "session_new takes no code: run cells with \"run\"");
    if (create && json_object_get(req, "stream"))
        return cli_fault_set(f, "unknown_field", "stream", "is a field of \"run\"");
    struct cli_exec *x = cli_exec_new(&c->srv->engine, req, allow, &serve_ops, c, f);
    if (!x)
        return -1;
    if ((create || session) && cli_session_take(&c->srv->engine, c, session, create, x, f) != 0) {
        cli_exec_free(x);
        return -1;
    }
    x->id = json_incref(id);
    x->key = psb__json_dumps(id);
    if (!x->key) {
        cli_exec_free(x);
        return cli_fault_set(f, "internal", "", "out of memory");
    }
    pthread_mutex_lock(&c->lock);
    bool dup = find(c, x->key) != NULL;
    if (!dup) {
        x->next = c->execs;
        c->execs = x;
        c->refs++; /* the execution's, until on_done() */
    }
    pthread_mutex_unlock(&c->lock);
    if (dup) {
        cli_session_untake(&c->srv->engine, x);
        cli_exec_free(x);
        return cli_fault_set(f, "duplicate_id", "id", "an execution with this id is in flight");
    }
    if (cli_exec_start(x, f) != 0) {
        forget(c, x);
        cli_session_untake(&c->srv->engine, x);
        cli_exec_free(x);
        pthread_mutex_lock(&c->lock);
        c->refs--; /* the reader still holds one: never the last */
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    return 0;
}

/* op "cancel": fires the target's token; its own answer says cancelled. */
static int op_cancel(struct serve_conn *c, json_t *req, struct cli_fault *f) {
    json_t *target = json_object_get(req, "target");
    if (!target)
        return cli_fault_set(f, "missing_field", "target", "is required: the id to cancel");
    char *key = psb__json_dumps(target);
    if (!key)
        return cli_fault_set(f, "internal", "", "out of memory");
    pthread_mutex_lock(&c->lock);
    struct cli_exec *x = find(c, key);
    if (x)
        psb_cancel_fire(x->cancel);
    pthread_mutex_unlock(&c->lock);
    free(key);
    return x ? 0
             : cli_fault_set(f, "unknown_id", "target", "no execution with this id is in flight");
}

/* Only the fields an operation takes: 0, or -1 naming the first other. */
int serve_only_fields(json_t *req, const char *const *names, struct cli_fault *f) {
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v) {
        size_t i = 0;
        while (names[i] && strcmp(names[i], key) != 0)
            i++;
        if (!names[i])
            return cli_fault_set(f, "unknown_field", key, "is not a field of this operation");
    }
    return 0;
}

/* A valid id: a string or an integer, unique among the client's executions. */
static int check_id(json_t *id, struct cli_fault *f) {
    if (!id)
        return cli_fault_set(f, "missing_field", "id", "is required (a string or an integer)");
    if (!json_is_string(id) && !json_is_integer(id))
        return cli_fault_set(f, "wrong_type", "id", "must be a string or an integer");
    if (json_is_string(id) && json_string_length(id) > 256)
        return cli_fault_set(f, "out_of_range", "id", "must be at most 256 bytes");
    return 0;
}

/* op "session_close": the session and what runs in it stop. */
static int op_session_close(struct serve_conn *c, json_t *req, struct cli_fault *f) {
    const char *session = NULL;
    if (session_name(req, &session, f) != 0)
        return -1;
    if (!session)
        return cli_fault_set(f, "missing_field", "session", "is required: the session to close");
    return cli_session_close(&c->srv->engine, c, session, f);
}

/* The snapshot a request names ("snapshot": N) among cs's, or NULL with *f. */
static psb_snapshot **snapshot_of(struct cli_session *cs, json_t *req, struct cli_fault *f) {
    json_t *v = json_object_get(req, "snapshot");
    if (!v) {
        cli_fault_set(f, "missing_field", "snapshot", "is required: a snapshot's number");
        return NULL;
    }
    json_int_t n = json_integer_value(v);
    if (!json_is_integer(v) || n < 1 || (uint64_t)n > cs->n_snaps || !cs->snaps[n - 1]) {
        cli_fault_set(f, "unknown_snapshot", "snapshot", "no snapshot of this number is kept");
        return NULL;
    }
    return &cs->snaps[n - 1];
}

/* A library error of a snapshot operation as a fault. */
static int snapshot_fault(struct cli_fault *f, psb_status st, const psb_error *err) {
    return cli_fault_set(f, st == PSB_EINVAL ? "invalid_request" : "snapshot_failed", "", "%s",
                         err->message);
}

/*
 * ops "session_snapshot", "session_restore", "session_branch" and
 * "snapshot_drop": answered here (they take a fork, not a cell's time).
 * 0 when answered, -1 with *f.
 */
static int op_snapshot(struct serve_conn *c, json_t *req, json_t *id, const char *op,
                       struct cli_fault *f) {
    const char *session = NULL, *new_name = NULL;
    json_t *nv = json_object_get(req, "new_session");
    if (session_name(req, &session, f) != 0)
        return -1;
    if (!session)
        return cli_fault_set(f, "missing_field", "session", "is required");
    if (nv && (!json_is_string(nv) || json_string_length(nv) == 0 || json_string_length(nv) > 128 ||
               memchr(json_string_value(nv), 0, json_string_length(nv))))
        return cli_fault_set(f, "wrong_type", "new_session",
                             "must be a name of 1 to 128 characters");
    new_name = json_string_value(nv);
    struct cli_engine *e = &c->srv->engine;
    struct cli_session *cs = cli_session_hold(e, c, session, f);
    if (!cs)
        return -1;
    psb_error err = {0};
    psb_status st = PSB_OK;
    psb_snapshot **snap = strcmp(op, "session_snapshot") == 0 ? NULL : snapshot_of(cs, req, f);
    int rc = -1;
    if (strcmp(op, "session_snapshot") == 0) {
        psb_snapshot *made = NULL;
        if (cs->n_snaps >= sizeof cs->snaps / sizeof cs->snaps[0])
            cli_fault_set(f, "too_many_snapshots", "", "a session of this server takes %zu at most",
                          sizeof cs->snaps / sizeof cs->snaps[0]);
        else if ((st = psb_session_snapshot(cs->s, &made, &err)) != PSB_OK)
            snapshot_fault(f, st, &err);
        else {
            cs->snaps[cs->n_snaps++] = made;
            cli_out_json(&c->out, json_pack("{s:O,s:i}", "id", id, "snapshot", (int)cs->n_snaps));
            rc = 0;
        }
    } else if (snap && strcmp(op, "snapshot_drop") == 0) {
        psb_snapshot_free(*snap);
        *snap = NULL;
        cli_out_json(&c->out, json_pack("{s:O,s:b}", "id", id, "ok", 1));
        rc = 0;
    } else if (snap && strcmp(op, "session_restore") == 0) {
        if ((st = psb_session_restore(cs->s, *snap, &err)) != PSB_OK)
            snapshot_fault(f, st, &err);
        else {
            cli_out_json(&c->out, json_pack("{s:O,s:b}", "id", id, "ok", 1));
            rc = 0;
        }
    } else if (snap) {
        psb_session *b = NULL;
        const char *made = NULL;
        if ((st = psb_session_branch(*snap, &b, &err)) != PSB_OK)
            snapshot_fault(f, st, &err);
        else if (cli_session_adopt(e, c, new_name, b, &made, f) != 0)
            psb_session_free(b);
        else {
            cli_out_json(&c->out, json_pack("{s:O,s:s}", "id", id, "session", made));
            rc = 0;
        }
    }
    cli_session_unhold(e, cs);
    return rc;
}

/* One request object: dispatched, or answered with its fault. */
static void handle(struct serve_conn *c, json_t *req) {
    static const char *const plain[] = {"id", "op", NULL};
    static const char *const cancel[] = {"id", "op", "target", NULL};
    static const char *const close[] = {"id", "op", "session", NULL};
    static const char *const snap_ops[] = {"id", "op", "session", "snapshot", NULL};
    static const char *const branch[] = {"id", "op", "session", "snapshot", "new_session", NULL};
    struct cli_fault f = {0};
    json_t *id = json_object_get(req, "id"), *op = json_object_get(req, "op");
    const char *name = json_string_value(op);
    if (check_id(id, &f) != 0) {
        send_fault(c, NULL, &f); /* an id that is not valid is not echoed */
        return;
    }
    int rc = -1;
    static const char ops[] = "run, cancel, session_new, session_close, session_snapshot, "
                              "session_restore, session_branch, snapshot_drop, layer_list, "
                              "layer_create, layer_install, layer_remove, ping or shutdown";
    const char *const *snap_fields = NULL; /* a snapshot operation's */
    bool later = false;                    /* answered when it ends */
    bool itself = false;                   /* answered by its own code */
    if (!op)
        cli_fault_set(&f, "missing_field", "op", "is required: %s", ops);
    else if (!name)
        cli_fault_set(&f, "wrong_type", "op", "must be a string");
    else if ((later = strcmp(name, "run") == 0 || strcmp(name, "session_new") == 0))
        rc = op_run(c, req, id, strcmp(name, "session_new") == 0, &f);
    else if (strcmp(name, "session_close") == 0)
        rc = serve_only_fields(req, close, &f) == 0 ? op_session_close(c, req, &f) : -1;
    else if ((snap_fields =
                  strcmp(name, "session_snapshot") == 0 ? close
                  : strcmp(name, "session_branch") == 0 ? branch
                  : strcmp(name, "session_restore") == 0 || strcmp(name, "snapshot_drop") == 0
                      ? snap_ops
                      : NULL))
        rc = serve_only_fields(req, snap_fields, &f) == 0 ? op_snapshot(c, req, id, name, &f) : -1;
    else if (strcmp(name, "cancel") == 0)
        rc = serve_only_fields(req, cancel, &f) == 0 ? op_cancel(c, req, &f) : -1;
    else if ((itself = serve_is_layer_op(name)))
        rc = serve_layer_op(c, req, id, name, &f);
    else if (strcmp(name, "ping") == 0 || strcmp(name, "shutdown") == 0)
        rc = serve_only_fields(req, plain, &f);
    else
        cli_fault_set(&f, "unknown_op", "op", "must be %s", ops);
    if (rc != 0) {
        send_fault(c, id, &f);
        return;
    }
    if (later || snap_fields || itself)
        return;
    cli_out_json(&c->out, json_pack("{s:O,s:b}", "id", id, "ok", 1));
    if (strcmp(name, "shutdown") == 0)
        c->srv->request_stop(c->srv);
}

void serve_line(struct serve_conn *c, enum cli_line kind, const char *line, size_t len) {
    struct cli_fault f = {0};
    if (kind == CLI_LINE_TOO_LONG) {
        cli_fault_set(&f, "line_too_long", "", "a line holds more than %zu bytes (dropped)",
                      c->srv->max_line);
        send_fault(c, NULL, &f);
        return;
    }
    if (len == 0 || (len == 1 && line[0] == '\r'))
        return; /* blank lines separate nothing: skipped */
    if (!psb__utf8_valid(line, len)) {
        cli_fault_set(&f, "invalid_utf8", "", "the line is not valid UTF-8");
        send_fault(c, NULL, &f);
        return;
    }
    json_error_t je;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!req) {
        cli_fault_set(&f, "invalid_json", "", "%s (column %d)", je.text, je.column);
        send_fault(c, NULL, &f);
    } else if (!json_is_object(req)) {
        cli_fault_set(&f, "wrong_type", "", "a request must be a JSON object");
        send_fault(c, NULL, &f);
    } else {
        handle(c, req);
    }
    json_decref(req);
}

json_t *serve_hello(const struct serve *srv) {
    char *policy = psb_config_policy_json(srv->config);
    json_t *p = policy ? json_loads(policy, 0, NULL) : NULL;
    free(policy);
    return json_pack("{s:{s:i,s:s,s:i,s:i,s:I,s:b,s:b,s:o?}}", "hello", "protocol", SERVE_PROTOCOL,
                     "version", PSB_VERSION_STRING, "max_in_flight", (int)srv->engine.max_in_flight,
                     "max_sessions", (int)srv->engine.max_sessions, "max_line_bytes",
                     (json_int_t)srv->max_line, "import_overrides", srv->allow_widen, "layer_admin",
                     srv->layer_admin, "policy", p);
}
