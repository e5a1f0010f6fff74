/*
 * shell.c - the requests of the shell and control channels, as the
 * Jupyter messaging protocol 5.3 defines them. Cells and the questions
 * about code (complete, inspect, is_complete, user_expressions) go to the
 * session; the kernel keeps only the protocol's own state: the execution
 * count and the history of the cells it passed on.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "base/base.h"
#include "jupyter/jupyter.h"

/* A question about code may take this long before the kernel gives up on it. */
#define ASK_TIMEOUT_MS 10000u

static void reply(struct jk_kernel *k, enum jk_channel ch, const struct jk_msg *m,
                  json_t *content) {
    char type[96];
    const char *t = m->type;
    size_t n = strlen(t);
    if (n > 8 && strcmp(t + n - 8, "_request") == 0)
        snprintf(type, sizeof type, "%.*s_reply", (int)(n - 8), t);
    else
        snprintf(type, sizeof type, "%s_reply", t);
    if (!content || jk_msg_send(&k->conn, k->sock[ch], m, type, content, NULL) != 0)
        fprintf(stderr, CLI_PROG " kernel: sending %s failed\n", type);
}

/* The content of an error reply: {"status": "error", ename, evalue, traceback}. */
static json_t *error_content(const char *ename, const char *evalue) {
    json_t *tb = json_array();
    char line[1200];
    snprintf(line, sizeof line, "%s: %s", ename, evalue);
    json_array_append_new(tb, json_string(line));
    return json_pack("{s:s,s:s,s:s,s:o}", "status", "error", "ename", ename, "evalue", evalue,
                     "traceback", tb);
}

json_t *jk_kernel_info(const struct jk_kernel *k) {
    char banner[200];
    snprintf(banner, sizeof banner,
             "Python %s in a pysandbox session (%s): confined by the kernel, cells share one "
             "process",
             k->language_version, PSB_VERSION_STRING);
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:i}},s:s,s:[],s:b}",
                     "status", "ok", "protocol_version", JK_PROTOCOL_VERSION, "implementation",
                     "pysandbox", "implementation_version", PSB_VERSION_STRING, "language_info",
                     "name", "python", "version", k->language_version, "mimetype", "text/x-python",
                     "file_extension", ".py", "pygments_lexer", "ipython3", "nbconvert_exporter",
                     "python", "codemirror_mode", "name", "ipython", "version", 3, "banner", banner,
                     "help_links", "debugger", 0);
}

/* ---- execute ----------------------------------------------------------- */

static void on_output(void *user, int stream, const char *data, size_t len) {
    struct jk_kernel *k = user;
    json_t *text = cli_chunk_text(&k->tails[stream == 2 ? 1 : 0], data, len);
    if (text)
        jk_publish(k, k->running, "stream",
                   json_pack("{s:s,s:o}", "name", stream == 2 ? "stderr" : "stdout", "text", text));
}

/* input() in the cell: an input_request on stdin, and the client's input_reply. */
static char *on_input(void *user, const char *prompt, int password) {
    struct jk_kernel *k = user;
    const struct jk_msg *parent = k->running;
    json_t *req = json_pack("{s:s,s:b}", "prompt", prompt, "password", password);
    if (!req || jk_msg_send(&k->conn, k->sock[JK_STDIN], parent, "input_request", req, NULL) != 0)
        return NULL;
    while (!atomic_load(&k->stop) && !psb_cancel_fired(k->cancel)) {
        zmq_pollitem_t item = {k->sock[JK_STDIN], 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0 || !(item.revents & ZMQ_POLLIN))
            continue;
        struct jk_msg m;
        int got = jk_recv(k, JK_STDIN, &m);
        if (got < 0)
            return NULL;
        if (got != 0)
            continue;
        if (strcmp(m.type, "input_reply") != 0) {
            jk_msg_release(&m);
            continue;
        }
        const char *value = json_string_value(json_object_get(m.content, "value"));
        char *line = value ? strdup(value) : NULL;
        jk_msg_release(&m);
        return line;
    }
    return NULL;
}

/* A display bundle of the outcome as a Jupyter "data" object. */
static json_t *bundle_data(const psb_outcome *o, size_t i, size_t entries) {
    json_t *data = json_object();
    for (size_t e = 0; data && e < entries; e++) {
        const char *mime, *value;
        size_t len;
        if (psb_outcome_display_entry(o, i, e, &mime, &value, &len) != 0)
            continue;
        json_t *v = strcmp(mime, "application/json") == 0
                        ? json_loadb(value, len, JSON_DECODE_ANY, NULL)
                        : json_stringn(value, len);
        if (v)
            json_object_set_new(data, mime, v);
    }
    return data;
}

/* The displays, then the figures, on IOPub (an execute_result only when not silent). */
static void publish_displays(struct jk_kernel *k, const psb_outcome *o, unsigned count,
                             bool silent) {
    for (size_t i = 0; i < psb_outcome_display_count(o); i++) {
        const char *type;
        size_t entries;
        if (psb_outcome_display(o, i, &type, &entries) != 0)
            continue;
        json_t *data = bundle_data(o, i, entries);
        if (strcmp(type, "execute_result") == 0 && !silent)
            jk_publish(
                k, k->running, "execute_result",
                json_pack("{s:i,s:o,s:{}}", "execution_count", count, "data", data, "metadata"));
        else if (strcmp(type, "execute_result") != 0)
            jk_publish(k, k->running, "display_data",
                       json_pack("{s:o,s:{},s:{}}", "data", data, "metadata", "transient"));
        else
            json_decref(data);
    }
    for (size_t i = 0; i < psb_outcome_figure_count(o); i++) {
        const void *png;
        size_t len;
        unsigned w, h;
        if (psb_outcome_figure(o, i, &png, &len, NULL, &w, &h) != 0)
            continue;
        char *b64 = psb__base64_encode(png, len);
        char plain[64];
        snprintf(plain, sizeof plain, "<Figure size %ux%u>", w, h);
        if (b64)
            jk_publish(k, k->running, "display_data",
                       json_pack("{s:{s:s,s:s},s:{s:{s:i,s:i}},s:{}}", "data", "image/png", b64,
                                 "text/plain", plain, "metadata", "image/png", "width", w, "height",
                                 h, "transient"));
        free(b64);
    }
}

/* The error of a failed cell: {ename, evalue, traceback} (status added by the caller). */
static json_t *cell_error(const psb_outcome *o) {
    const char *type = psb_outcome_error_type(o);
    const char *message = psb_outcome_error_message(o);
    const char *tb = psb_outcome_error_traceback(o);
    const char *what =
        psb_outcome_error_module(o) ? psb_outcome_error_module(o) : psb_outcome_error_event(o);
    psb_error_kind kind = psb_outcome_error_kind(o);
    /* An interrupted cell is a KeyboardInterrupt, as Jupyter users know it. */
    const char *ename = kind == PSB_KIND_CANCELLED ? "KeyboardInterrupt"
                        : type                     ? type
                                                   : psb_error_kind_name(kind);
    char evalue[2048];
    snprintf(evalue, sizeof evalue, "%s", message ? message : "");
    if (what && !strstr(evalue, what))
        snprintf(evalue + strlen(evalue), sizeof evalue - strlen(evalue), " (refused: %s)", what);
    json_t *lines = json_array();
    if (tb && tb[0]) {
        for (const char *p = tb; *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            json_array_append_new(lines, json_stringn(p, n));
            p += n + (nl ? 1 : 0);
        }
    } else {
        char line[2200];
        snprintf(line, sizeof line, "%s: %s", ename, evalue);
        json_array_append_new(lines, json_string(line));
    }
    return json_pack("{s:s,s:s,s:o}", "ename", ename, "evalue", evalue, "traceback", lines);
}

static void remember(struct jk_kernel *k, unsigned count, const char *code) {
    char *copy = strdup(code);
    if (!copy)
        return;
    if (k->n_history == JK_MAX_HISTORY) {
        free(k->history[0].code);
        memmove(k->history, k->history + 1, (k->n_history - 1) * sizeof *k->history);
        k->n_history--;
    }
    struct jk_history *grown = realloc(k->history, (k->n_history + 1) * sizeof *grown);
    if (!grown) {
        free(copy);
        return;
    }
    k->history = grown;
    grown[k->n_history].count = count;
    grown[k->n_history].code = copy;
    k->n_history++;
}

/* The answer to a question of the session (psb_session_ask), as JSON; NULL with *fault. */
static json_t *ask(struct jk_kernel *k, psb_ask q, const char *code, size_t len, size_t cursor,
                   char *fault, size_t fault_size) {
    psb_error err = {0};
    psb_outcome *o = NULL;
    psb_exec_options *opt = psb_exec_options_new(&err);
    json_t *answer = NULL;
    if (opt && psb_exec_options_set_timeout_ms(opt, ASK_TIMEOUT_MS, &err) == PSB_OK &&
        jk_session_ensure(k, &err) == 0 &&
        psb_session_ask(k->session, q, code, len, cursor, opt, &o, &err) == PSB_OK) {
        if (psb_outcome_ok(o))
            answer = json_loads(psb_outcome_result_json(o), 0, NULL);
        else
            snprintf(fault, fault_size, "%s: %s", psb_error_kind_name(psb_outcome_error_kind(o)),
                     psb_outcome_error_message(o) ? psb_outcome_error_message(o) : "");
    } else {
        snprintf(fault, fault_size, "%s", err.message[0] ? err.message : "out of memory");
    }
    psb_outcome_free(o);
    psb_exec_options_free(opt);
    return answer;
}

/* Each user_expression's value (or error), after a cell that succeeded. */
static json_t *user_expressions(struct jk_kernel *k, json_t *exprs) {
    if (!json_is_object(exprs) || json_object_size(exprs) == 0)
        return json_object();
    char *text = json_dumps(exprs, JSON_COMPACT);
    char fault[600] = "";
    json_t *answer =
        text ? ask(k, PSB_ASK_EXPRESSIONS, text, strlen(text), 0, fault, sizeof fault) : NULL;
    free(text);
    if (answer)
        return answer;
    answer = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(exprs, key, v) {
        (void)v;
        json_object_set_new(answer, key, error_content("SandboxError", fault));
    }
    return answer;
}

/*
 * Runs the code of request m in the session (a fresh one if it ended),
 * its output streamed unless silent, interruptible through cancel.
 */
static psb_status run_cell(struct jk_kernel *k, const struct jk_msg *m, const char *code,
                           psb_cancel *cancel, bool silent, bool allow_stdin, psb_outcome **ret,
                           psb_error *err) {
    psb_exec_options *opt = psb_exec_options_new(err);
    bool fresh = k->session && !psb_session_alive(k->session);
    k->running = m;
    memset(k->tails, 0, sizeof k->tails);
    pthread_mutex_lock(&k->cell_lock);
    k->cancel = cancel;
    pthread_mutex_unlock(&k->cell_lock);
    psb_status st = PSB_ENOMEM;
    if (cancel && opt && psb_exec_options_set_cancel(opt, cancel, err) == PSB_OK &&
        psb_exec_options_set_timeout_ms(opt, k->timeout_ms, err) == PSB_OK &&
        (silent || psb_exec_options_set_output_callback(opt, on_output, k, err) == PSB_OK) &&
        (!allow_stdin || psb_exec_options_set_input_callback(opt, on_input, k, err) == PSB_OK)) {
        st = jk_session_ensure(k, err) == 0 ? PSB_OK : PSB_EHELPER;
        if (st == PSB_OK && fresh && !silent)
            jk_publish(k, m, "stream",
                       json_pack("{s:s,s:s}", "name", "stderr", "text",
                                 "[pysandbox] the session had ended: this cell runs in a fresh "
                                 "one (earlier variables are gone)\n"));
        if (st == PSB_OK)
            st = psb_session_exec(k->session, code, strlen(code), opt, ret, err);
    }
    pthread_mutex_lock(&k->cell_lock);
    k->cancel = NULL;
    pthread_mutex_unlock(&k->cell_lock);
    for (int s = 0; s < 2 && !silent; s++) {
        json_t *rest = cli_chunk_text(&k->tails[s], NULL, 0);
        if (rest)
            jk_publish(k, m, "stream",
                       json_pack("{s:s,s:o}", "name", s ? "stderr" : "stdout", "text", rest));
    }
    psb_exec_options_free(opt);
    return st;
}

static void execute(struct jk_kernel *k, const struct jk_msg *m) {
    const json_t *c = m->content;
    const json_t *code_j = json_object_get(c, "code");
    const char *code = json_string_value(code_j);
    if (!code || (json_object_get(c, "user_expressions") &&
                  !json_is_object(json_object_get(c, "user_expressions")))) {
        json_t *e = error_content("InvalidRequest",
                                  "execute_request needs \"code\" (a string); \"user_expressions\" "
                                  "must be an object");
        json_object_set_new(e, "execution_count", json_integer(k->execution_count));
        reply(k, JK_SHELL, m, e);
        return;
    }
    bool silent = json_is_true(json_object_get(c, "silent"));
    const json_t *sh = json_object_get(c, "store_history");
    bool store = !silent && (!sh || json_is_true(sh));
    bool allow_stdin = json_is_true(json_object_get(c, "allow_stdin"));
    if (store)
        k->execution_count++;
    unsigned count = k->execution_count;
    if (!silent)
        jk_publish(k, m, "execute_input",
                   json_pack("{s:O,s:i}", "code", code_j, "execution_count", count));
    if (store)
        remember(k, count, code);
    psb_error err = {0};
    psb_outcome *o = NULL;
    psb_cancel *cancel = psb_cancel_new(&err);
    psb_status st = run_cell(k, m, code, cancel, silent, allow_stdin, &o, &err);
    json_t *content;
    if (st != PSB_OK) {
        content = error_content("SandboxError", err.message[0] ? err.message : "out of memory");
    } else {
        if (!silent)
            publish_displays(k, o, count, silent);
        if (psb_outcome_ok(o)) {
            content =
                json_pack("{s:s,s:o,s:[]}", "status", "ok", "user_expressions",
                          user_expressions(k, json_object_get(c, "user_expressions")), "payload");
        } else {
            content = cell_error(o);
            if (!silent)
                jk_publish(k, m, "error", json_deep_copy(content));
            json_object_set_new(content, "status", json_string("error"));
        }
    }
    json_object_set_new(content, "execution_count", json_integer(count));
    reply(k, JK_SHELL, m, content);
    k->running = NULL;
    psb_outcome_free(o);
    psb_cancel_free(cancel);
}

/* ---- the other requests ------------------------------------------------ */

/* A cursor position that is an integer within the code, or -1. */
static long long cursor_of(const json_t *c, const char *code) {
    const json_t *pos = json_object_get(c, "cursor_pos");
    if (!json_is_integer(pos) || json_integer_value(pos) < 0)
        return -1;
    size_t points = 0;
    for (const char *p = code; *p; p++)
        points += ((unsigned char)*p & 0xc0) != 0x80;
    return (size_t)json_integer_value(pos) > points ? -1 : json_integer_value(pos);
}

static void question(struct jk_kernel *k, const struct jk_msg *m, psb_ask q) {
    const char *code = json_string_value(json_object_get(m->content, "code"));
    long long cursor = code && q != PSB_ASK_IS_COMPLETE ? cursor_of(m->content, code) : 0;
    if (!code || cursor < 0) {
        reply(k, JK_SHELL, m,
              error_content("InvalidRequest",
                            "the request needs \"code\" (a string) and \"cursor_pos\" (code "
                            "points into it)"));
        return;
    }
    if (q == PSB_ASK_INSPECT && json_integer_value(json_object_get(m->content, "detail_level")) > 0)
        q = PSB_ASK_INSPECT_DETAIL;
    char fault[600] = "";
    json_t *answer = ask(k, q, code, strlen(code), (size_t)cursor, fault, sizeof fault);
    if (answer) {
        if (q != PSB_ASK_IS_COMPLETE) /* its "status" is the answer */
            json_object_set_new(answer, "status", json_string("ok"));
        reply(k, JK_SHELL, m, answer);
    } else if (q == PSB_ASK_IS_COMPLETE) {
        reply(k, JK_SHELL, m, json_pack("{s:s}", "status", "unknown"));
    } else {
        reply(k, JK_SHELL, m, error_content("SandboxError", fault));
    }
}

static void history(struct jk_kernel *k, const struct jk_msg *m) {
    const json_t *c = m->content;
    const char *access = json_string_value(json_object_get(c, "hist_access_type"));
    bool output = json_is_true(json_object_get(c, "output"));
    json_int_t n = json_integer_value(json_object_get(c, "n"));
    json_t *list = json_array();
    size_t from = 0, to = k->n_history;
    const char *pattern = NULL;
    if (access && strcmp(access, "tail") == 0) {
        from = n > 0 && (size_t)n < k->n_history ? k->n_history - (size_t)n : 0;
    } else if (access && strcmp(access, "range") == 0) {
        json_int_t start = json_integer_value(json_object_get(c, "start"));
        json_int_t stop = json_integer_value(json_object_get(c, "stop"));
        for (size_t i = 0; i < k->n_history; i++) {
            if ((json_int_t)k->history[i].count < start)
                from = i + 1;
            if (stop > 0 && (json_int_t)k->history[i].count >= stop && to == k->n_history)
                to = i;
        }
    } else if (access && strcmp(access, "search") == 0) {
        pattern = json_string_value(json_object_get(c, "pattern"));
    } else {
        reply(k, JK_SHELL, m,
              error_content("InvalidRequest",
                            "hist_access_type must be \"range\", \"tail\" or \"search\""));
        json_decref(list);
        return;
    }
    for (size_t i = from; i < to; i++) {
        const struct jk_history *h = &k->history[i];
        if (pattern && fnmatch(pattern, h->code, 0) != 0)
            continue;
        json_t *input = output ? json_pack("[s,n]", h->code) : json_string(h->code);
        json_array_append_new(list, json_pack("[i,i,o]", 1, h->count, input));
    }
    if (pattern && n > 0 && json_array_size(list) > (size_t)n)
        while (json_array_size(list) > (size_t)n)
            json_array_remove(list, 0);
    reply(k, JK_SHELL, m, json_pack("{s:s,s:o}", "status", "ok", "history", list));
}

static void shutdown_kernel(struct jk_kernel *k, enum jk_channel ch, const struct jk_msg *m) {
    k->restart = json_is_true(json_object_get(m->content, "restart"));
    reply(k, ch, m, json_pack("{s:s,s:b}", "status", "ok", "restart", k->restart));
    atomic_store(&k->stop, true);
}

void jk_shell_handle(struct jk_kernel *k, const struct jk_msg *m) {
    const char *t = m->type;
    jk_status(k, m, "busy");
    if (strcmp(t, "execute_request") == 0)
        execute(k, m);
    else if (strcmp(t, "kernel_info_request") == 0)
        reply(k, JK_SHELL, m, jk_kernel_info(k));
    else if (strcmp(t, "complete_request") == 0)
        question(k, m, PSB_ASK_COMPLETE);
    else if (strcmp(t, "inspect_request") == 0)
        question(k, m, PSB_ASK_INSPECT);
    else if (strcmp(t, "is_complete_request") == 0)
        question(k, m, PSB_ASK_IS_COMPLETE);
    else if (strcmp(t, "history_request") == 0)
        history(k, m);
    else if (strcmp(t, "comm_info_request") == 0)
        reply(k, JK_SHELL, m, json_pack("{s:s,s:{}}", "status", "ok", "comms"));
    else if (strcmp(t, "shutdown_request") == 0)
        shutdown_kernel(k, JK_SHELL, m);
    else
        fprintf(stderr, CLI_PROG " kernel: shell: unknown message type '%s' ignored\n", t);
    jk_status(k, m, "idle");
}

void jk_control_handle(struct jk_kernel *k, const struct jk_msg *m) {
    const char *t = m->type;
    jk_status(k, m, "busy");
    if (strcmp(t, "interrupt_request") == 0) {
        pthread_mutex_lock(&k->cell_lock);
        psb_cancel_fire(k->cancel);
        pthread_mutex_unlock(&k->cell_lock);
        reply(k, JK_CONTROL, m, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(t, "shutdown_request") == 0) {
        shutdown_kernel(k, JK_CONTROL, m);
    } else if (strcmp(t, "kernel_info_request") == 0) {
        reply(k, JK_CONTROL, m, jk_kernel_info(k));
    } else {
        fprintf(stderr, CLI_PROG " kernel: control: unknown message type '%s' ignored\n", t);
    }
    jk_status(k, m, "idle");
}
