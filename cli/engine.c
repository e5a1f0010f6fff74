/*
 * engine.c - what `serve` and `mcp` share: one warm sandbox (and a cold one
 * made on first use), executions in flight on their own threads up to a
 * cap (beyond it a request is refused as busy, never queued), their output
 * streamed as whole UTF-8 text, and a drain that waits for all of them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>

#include "base/base.h"
#include "cli/cli.h"

int cli_engine_init(struct cli_engine *e, psb_config *config, const char *policy,
                    unsigned max_in_flight, psb_error *err) {
    memset(e, 0, sizeof *e);
    e->config = config;
    e->policy = policy;
    e->max_in_flight = max_in_flight;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->cold_lock, NULL);
    pthread_cond_init(&e->idle, NULL);
    psb_status st = psb_config_set_max_concurrency(config, max_in_flight, err);
    if (st == PSB_OK)
        st = psb_sandbox_new(config, &e->warm, err);
    return st == PSB_OK ? 0 : -1;
}

void cli_engine_release(struct cli_engine *e) {
    cli_sessions_close_owner(e, NULL);
    cli_engine_drain(e);
    psb_sandbox_free(e->warm);
    psb_sandbox_free(e->cold);
    pthread_cond_destroy(&e->idle);
    pthread_mutex_destroy(&e->cold_lock);
    pthread_mutex_destroy(&e->lock);
}

void cli_engine_drain(struct cli_engine *e) {
    pthread_mutex_lock(&e->lock);
    while (e->in_flight > 0)
        pthread_cond_wait(&e->idle, &e->lock);
    pthread_mutex_unlock(&e->lock);
}

unsigned cli_engine_in_flight(struct cli_engine *e) {
    pthread_mutex_lock(&e->lock);
    unsigned n = e->in_flight;
    pthread_mutex_unlock(&e->lock);
    return n;
}

/* The cold sandbox, started by the first execution that asks for one. */
static psb_sandbox *cold_sandbox(struct cli_engine *e, psb_error *err) {
    pthread_mutex_lock(&e->cold_lock);
    if (!e->cold) {
        psb_config *c = psb_config_new(err);
        if (c && (!e->policy || psb_config_set_policy(c, e->policy, err) == PSB_OK) &&
            psb_config_set_mode(c, PSB_MODE_COLD, err) == PSB_OK &&
            psb_config_set_max_concurrency(c, e->max_in_flight, err) == PSB_OK) {
            const char *helper = cli_helper_path();
            if (!helper || psb_config_set_helper_path(c, helper, err) == PSB_OK)
                (void)psb_sandbox_new(c, &e->cold, err);
        }
        psb_config_free(c);
    }
    psb_sandbox *sb = e->cold;
    pthread_mutex_unlock(&e->cold_lock);
    return sb;
}

static void on_output(void *user, int stream, const char *data, size_t len) {
    struct cli_exec *x = user;
    json_t *text = cli_chunk_text(&x->tail[stream == 2 ? 1 : 0], data, len);
    if (text)
        x->ops->output(x, stream, text);
    json_decref(text);
}

/* Unlinks a session from the engine's list. Call with e->lock held. */
static void session_unlink(struct cli_engine *e, struct cli_session *cs) {
    for (struct cli_session **p = &e->sessions; *p; p = &(*p)->next)
        if (*p == cs) {
            *p = cs->next;
            e->n_sessions--;
            break;
        }
    cs->closed = true;
}

static void session_free(struct cli_session *cs) {
    psb_session_free(cs->s); /* before its snapshots' handles, which then only free memory */
    for (unsigned i = 0; i < cs->n_snaps; i++)
        psb_snapshot_free(cs->snaps[i]);
    free(cs->name);
    free(cs);
}

/* x is done with its session: free again, or gone if it was closed (or never created). */
/* Whether a closed session can go: nothing runs in it, holds it or still uses it. */
static bool session_idle(const struct cli_session *cs) {
    return cs->closed && !cs->running && !cs->held && cs->pins == 0;
}

/*
 * x's cell (or creation) is over: the session is free for the next one
 * before x's answer goes out, since a client sends its next cell as soon
 * as it reads the answer; x still uses it (a pin) until session_unpin().
 */
static void session_put(struct cli_engine *e, struct cli_exec *x) {
    struct cli_session *cs = x->session;
    pthread_mutex_lock(&e->lock);
    cs->running = NULL;
    cs->pins++;
    if (!cs->s && !cs->closed)
        session_unlink(e, cs); /* its creation failed */
    pthread_mutex_unlock(&e->lock);
}

static void session_unpin(struct cli_engine *e, struct cli_exec *x) {
    struct cli_session *cs = x->session;
    pthread_mutex_lock(&e->lock);
    cs->pins--;
    bool gone = session_idle(cs);
    pthread_mutex_unlock(&e->lock);
    if (gone)
        session_free(cs);
}

/* A session's creation and cell, on x's thread. */
static void run_in_session(struct cli_exec *x, psb_sandbox *sb, psb_outcome **ret, psb_error *err) {
    struct cli_session *cs = x->session;
    const struct cli_run_request *r = &x->request;
    if (x->create) {
        /* The cell that follows (MCP) takes only what a cell may: the session gets the rest. */
        psb_session *s = NULL;
        if (psb_session_new(sb, r->code ? NULL : r->options, &s, err) != PSB_OK)
            return;
        pthread_mutex_lock(&x->engine->lock);
        cs->s = s;
        pthread_mutex_unlock(&x->engine->lock);
    }
    if (r->code)
        (void)psb_session_exec(cs->s, r->code, r->code_len, r->options, ret, err);
}

static void *exec_thread(void *arg) {
    struct cli_exec *x = arg;
    struct cli_engine *e = x->engine;
    psb_outcome *outcome = NULL;
    psb_error err = {0};
    psb_sandbox *sb = x->request.cold ? cold_sandbox(e, &err) : e->warm;
    if (sb && x->session)
        run_in_session(x, sb, &outcome, &err);
    else if (sb)
        (void)psb_exec(sb, x->request.code, x->request.code_len, x->request.options, &outcome,
                       &err);
    for (int s = 0; s < 2; s++) { /* what was left open is what the child ended with */
        json_t *rest = cli_chunk_text(&x->tail[s], NULL, 0);
        if (rest)
            x->ops->output(x, s + 1, rest);
        json_decref(rest);
    }
    /* The slot is free before the answer goes out: a client that sends its next
     * run as soon as it reads this one's answer must not find the server busy. */
    pthread_mutex_lock(&e->lock);
    e->running--;
    pthread_mutex_unlock(&e->lock);
    if (x->session)
        session_put(e, x);
    x->ops->done(x, outcome, &err);
    psb_outcome_free(outcome);
    if (x->session)
        session_unpin(e, x);
    cli_exec_free(x);
    pthread_mutex_lock(&e->lock);
    if (--e->in_flight == 0)
        pthread_cond_broadcast(&e->idle);
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

struct cli_exec *cli_exec_new(struct cli_engine *e, json_t *req, unsigned allow,
                              const struct cli_exec_ops *ops, void *owner, struct cli_fault *f) {
    psb_error err = {0};
    struct cli_exec *x = calloc(1, sizeof *x);
    if (!x) {
        cli_fault_set(f, "internal", "", "out of memory");
        return NULL;
    }
    x->engine = e;
    x->ops = ops;
    x->owner = owner;
    x->req = json_incref(req);
    if (cli_request_decode(req, allow, &x->request, f) != 0) {
        json_decref(x->req);
        free(x);
        return NULL;
    }
    if (!(x->cancel = psb_cancel_new(&err)) ||
        psb_exec_options_set_cancel(x->request.options, x->cancel, &err) != PSB_OK ||
        psb_exec_options_set_output_callback(
            x->request.options, x->request.stream ? on_output : NULL, x, &err) != PSB_OK) {
        cli_fault_set(f, "internal", "", "%s", err.message);
        cli_exec_free(x);
        return NULL;
    }
    return x;
}

void cli_exec_free(struct cli_exec *x) {
    if (!x)
        return;
    cli_request_release(&x->request);
    psb_cancel_free(x->cancel);
    json_decref(x->req);
    json_decref(x->id);
    free(x->key);
    free(x);
}

int cli_exec_start(struct cli_exec *x, struct cli_fault *f) {
    struct cli_engine *e = x->engine;
    pthread_mutex_lock(&e->lock);
    bool busy = e->running >= e->max_in_flight;
    if (!busy) {
        e->running++;
        e->in_flight++;
    }
    pthread_mutex_unlock(&e->lock);
    if (busy)
        return cli_fault_set(f, "busy", "",
                             "%u executions are in flight, the most this server runs",
                             e->max_in_flight);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256u << 10);
    int rc = pthread_create(&t, &attr, exec_thread, x);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&e->lock);
        e->running--;
        if (--e->in_flight == 0)
            pthread_cond_broadcast(&e->idle);
        pthread_mutex_unlock(&e->lock);
        return cli_fault_set(f, "busy", "", "cannot start another execution now");
    }
    return 0;
}

/* owner's session name, or NULL. Call with e->lock held. */
static struct cli_session *session_find(struct cli_engine *e, const void *owner, const char *name) {
    struct cli_session *cs = e->sessions;
    while (cs && (cs->owner != owner || strcmp(cs->name, name) != 0))
        cs = cs->next;
    return cs;
}

/*
 * A new session of owner named name (NULL: named by the server), listed.
 * Call with e->lock held. NULL with *f: duplicate_session, too_many_sessions.
 */
static struct cli_session *session_add(struct cli_engine *e, const void *owner, const char *name,
                                       const char *field, struct cli_fault *f) {
    char generated[32];
    if (!name) {
        snprintf(generated, sizeof generated, "session-%lu", ++e->session_serial);
        name = generated;
    }
    if (session_find(e, owner, name)) {
        cli_fault_set(f, "duplicate_session", field, "a session of this name is open");
        return NULL;
    }
    if (e->n_sessions >= e->max_sessions) {
        cli_fault_set(f, "too_many_sessions", "",
                      "%u sessions are open, the most this server keeps", e->max_sessions);
        return NULL;
    }
    struct cli_session *cs = calloc(1, sizeof *cs);
    char *copy = cs ? strdup(name) : NULL;
    if (!copy) {
        free(cs);
        cli_fault_set(f, "internal", "", "out of memory");
        return NULL;
    }
    cs->name = copy;
    cs->owner = owner;
    cs->next = e->sessions;
    e->sessions = cs;
    e->n_sessions++;
    return cs;
}

int cli_session_take(struct cli_engine *e, const void *owner, const char *name, bool create,
                     struct cli_exec *x, struct cli_fault *f) {
    pthread_mutex_lock(&e->lock);
    struct cli_session *cs =
        create ? session_add(e, owner, name, "session", f) : session_find(e, owner, name);
    if (!create && !cs) {
        cli_fault_set(f, "unknown_session", "session", "no session of this name is open");
    } else if (!create && (cs->running || cs->held)) {
        cli_fault_set(f, "session_busy", "session",
                      "a cell of this session is running: send the next when it ends");
        cs = NULL;
    }
    if (cs) {
        cs->running = x;
        x->session = cs;
        x->create = create;
    }
    pthread_mutex_unlock(&e->lock);
    return cs ? 0 : -1;
}

struct cli_session *cli_session_hold(struct cli_engine *e, const void *owner, const char *name,
                                     struct cli_fault *f) {
    pthread_mutex_lock(&e->lock);
    struct cli_session *cs = session_find(e, owner, name);
    bool ok = false;
    if (!cs)
        cli_fault_set(f, "unknown_session", "session", "no session of this name is open");
    else if (cs->running || cs->held || !cs->s)
        cli_fault_set(f, "session_busy", "session",
                      "a cell of this session is running: send the next when it ends");
    else
        ok = cs->held = true;
    pthread_mutex_unlock(&e->lock);
    return ok ? cs : NULL;
}

void cli_session_unhold(struct cli_engine *e, struct cli_session *cs) {
    pthread_mutex_lock(&e->lock);
    cs->held = false;
    bool gone = session_idle(cs);
    pthread_mutex_unlock(&e->lock);
    if (gone)
        session_free(cs);
}

int cli_session_adopt(struct cli_engine *e, const void *owner, const char *name, psb_session *s,
                      const char **ret_name, struct cli_fault *f) {
    pthread_mutex_lock(&e->lock);
    struct cli_session *cs = session_add(e, owner, name, "new_session", f);
    if (cs) {
        cs->s = s;
        *ret_name = cs->name;
    }
    pthread_mutex_unlock(&e->lock);
    return cs ? 0 : -1;
}

void cli_session_untake(struct cli_engine *e, struct cli_exec *x) {
    if (x->session) {
        session_put(e, x);
        session_unpin(e, x);
    }
    x->session = NULL;
}

/* Unlinks cs; frees it now unless something runs in it (its end frees it). */
static void session_close(struct cli_engine *e, struct cli_session *cs) {
    session_unlink(e, cs);
    if (cs->held || cs->pins)
        return; /* the operation's (or the answer's) end frees it */
    if (cs->running) {
        psb_cancel_fire(cs->running->cancel);
        return;
    }
    pthread_mutex_unlock(&e->lock);
    session_free(cs); /* stops its process: not under the lock */
    pthread_mutex_lock(&e->lock);
}

int cli_session_close(struct cli_engine *e, const void *owner, const char *name,
                      struct cli_fault *f) {
    pthread_mutex_lock(&e->lock);
    struct cli_session *cs = session_find(e, owner, name);
    if (cs)
        session_close(e, cs);
    pthread_mutex_unlock(&e->lock);
    return cs ? 0
              : cli_fault_set(f, "unknown_session", "session", "no session of this name is open");
}

void cli_sessions_close_owner(struct cli_engine *e, const void *owner) {
    pthread_mutex_lock(&e->lock);
    for (struct cli_session *cs = e->sessions, *next; cs; cs = next) {
        next = cs->next;
        if (!owner || cs->owner == owner) {
            session_close(e, cs);
            next = e->sessions; /* the list may have changed while unlocked */
        }
    }
    pthread_mutex_unlock(&e->lock);
}

void cli_exec_unlink(struct cli_exec **list, struct cli_exec *x) {
    for (struct cli_exec **p = list; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            return;
        }
    }
}

int cli_stop_signals(void) {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    /* Blocked before any thread exists, so every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    sigdelset(&sigs, SIGPIPE); /* a gone reader is EPIPE, never a reason to stop */
    return signalfd(-1, &sigs, SFD_CLOEXEC);
}

int cli_wait_input(int fd, int stop_a, int stop_b) {
    for (;;) {
        struct pollfd pf[3] = {{.fd = fd, .events = POLLIN},
                               {.fd = stop_a, .events = POLLIN},
                               {.fd = stop_b, .events = POLLIN}};
        if (poll(pf, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        if (pf[1].revents || pf[2].revents)
            return 0;
        if (pf[0].revents)
            return 1;
    }
}
