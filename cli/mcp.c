/*
 * mcp.c - `pysandbox mcp`: a Model Context Protocol server on stdio
 * (JSON-RPC 2.0, one message per line) with one tool, run_python. Each
 * call runs on the engine's threads like a `serve` request, so calls
 * overlap; notifications/cancelled stops one, and a call that names a
 * progressToken gets its output as progress notifications while it runs.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"

/* The revisions this server speaks, newest first; an unknown one gets the newest. */
static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

/* JSON-RPC error codes. */
enum {
    RPC_PARSE_ERROR = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL = -32603,
};

static const char tool_description[] =
    "Run Python 3.11 code in a sandbox and get back its output. Without session_id each call "
    "is a fresh, isolated process: nothing persists between calls. With a session_id of your "
    "choosing, calls with the same id run in one process, as notebook cells: variables, "
    "imports and files persist (a cell's last expression is shown as its value). numpy, "
    "pandas and matplotlib (Agg "
    "backend) are preloaded; every matplotlib figure left open is returned as a PNG image. "
    "To return a value, assign it to the global `result` (JSON-serializable, or numpy/pandas "
    "objects, which come back tagged); print() output is returned too. The optional `inputs` "
    "object is available as the global `inputs`. Refused: network access, subprocesses, "
    "ctypes, reading or writing files outside the working directory (which starts empty and "
    "is discarded), and installing packages.";

static const char mcp_help[] =
    "Usage: " CLI_PROG " mcp [OPTIONS]\n"
    "\n"
    "A Model Context Protocol server on stdin and stdout with one tool,\n"
    "run_python. Start it from an MCP client's configuration (see the README).\n"
    "\n"
    "  --policy NAME|FILE      preset (default, data-science, strict) or JSON file\n"
    "  --max-in-flight N       tool calls running at once, 1..256 (default 4)\n"
    "  --max-sessions N        session_ids open at once, 0..256 (default 8; 0: none);\n"
    "                          they close when the client goes\n"
    "  --help                  show this help and exit\n";

struct mcp {
    struct cli_engine engine;
    char description[1024]; /* the tool's, with the policy's limits */
    struct cli_out out;
    pthread_mutex_t lock;   /* calls */
    struct cli_exec *calls; /* tool calls in flight, by request id */
};

/* A call's own state, kept in cli_exec's owner slot. */
struct call {
    struct mcp *m;
    json_t *progress_token; /* or NULL */
    double progress;        /* chunks sent */
    bool cancelled;         /* by notifications/cancelled: no response is sent */
};

static void send_error(struct mcp *m, json_t *id, int code, const char *message) {
    json_t *doc = json_pack("{s:s,s:O?,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id, "error", "code",
                            code, "message", message);
    if (doc && !id)
        json_object_set_new(doc, "id", json_null());
    cli_out_json(&m->out, doc);
}

static void send_result(struct mcp *m, json_t *id, json_t *result) {
    cli_out_json(&m->out, json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void on_output(struct cli_exec *x, int stream, json_t *text) {
    struct call *c = x->owner;
    if (!c->progress_token)
        return;
    (void)stream; /* both streams, in the order they came: the message is the text */
    json_t *params = json_pack("{s:O,s:f,s:O}", "progressToken", c->progress_token, "progress",
                               ++c->progress, "message", text);
    cli_out_json(&c->m->out, json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method",
                                       "notifications/progress", "params", params));
}

/* Appends {"type":"text","text": label + text} when text is not empty. */
static void add_text(json_t *content, const char *label, const char *text) {
    if (!text || !text[0])
        return;
    size_t n = strlen(label) + strlen(text) + 1;
    char *s = malloc(n);
    if (!s)
        return;
    snprintf(s, n, "%s%s", label, text);
    json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", s));
    free(s);
}

/* The readable error block: "error (kind): Type: message" and the traceback. */
static void add_error(json_t *content, const json_t *error) {
    const char *kind = json_string_value(json_object_get(error, "kind"));
    const char *type = json_string_value(json_object_get(error, "type"));
    const char *msg = json_string_value(json_object_get(error, "message"));
    const char *tb = json_string_value(json_object_get(error, "traceback"));
    char head[1024];
    snprintf(head, sizeof head, "error (%s): %s%s%s", kind ? kind : "internal", type ? type : "",
             type ? ": " : "", msg ? msg : "");
    add_text(content, "", head);
    add_text(content, "traceback:\n", tb);
}

/* The tool result for an outcome: labelled text, one image per figure, the outcome itself. */
static json_t *tool_result(const char *outcome_text) {
    json_t *o = json_loads(outcome_text, 0, NULL), *content = json_array();
    if (!o || !content) {
        json_decref(o);
        json_decref(content);
        return NULL;
    }
    const char *status = json_string_value(json_object_get(o, "status"));
    bool ok = status && strcmp(status, "ok") == 0;
    add_text(content, "stdout:\n", json_string_value(json_object_get(o, "stdout")));
    add_text(content, "stderr:\n", json_string_value(json_object_get(o, "stderr")));
    json_t *result = json_object_get(o, "result");
    if (ok && result && !json_is_null(result)) {
        char *r = psb__json_dumps(result);
        add_text(content, "result: ", r);
        free(r);
    }
    if (!ok)
        add_error(content, json_object_get(o, "error"));
    size_t i;
    json_t *fig, *d;
    /* What a notebook would show: display() bundles and the last expression's value. */
    json_array_foreach(json_object_get(o, "displays"), i, d) {
        const json_t *data = json_object_get(d, "data");
        const json_t *png = json_object_get(data, "image/png");
        const char *type = json_string_value(json_object_get(d, "type"));
        bool value = type && strcmp(type, "execute_result") == 0;
        if (json_is_string(png))
            json_array_append_new(content, json_pack("{s:s,s:O,s:s}", "type", "image", "data", png,
                                                     "mimeType", "image/png"));
        else
            add_text(content, value ? "value:\n" : "display:\n",
                     json_string_value(json_object_get(data, "text/plain")));
    }
    json_array_foreach(json_object_get(o, "figures"), i, fig) {
        json_array_append_new(content, json_pack("{s:s,s:O,s:O}", "type", "image", "data",
                                                 json_object_get(fig, "base64"), "mimeType",
                                                 json_object_get(fig, "mime")));
    }
    if (json_array_size(content) == 0)
        add_text(content, "", ok ? "(no output and no result)" : "error");
    return json_pack("{s:o,s:o,s:b}", "content", content, "structuredContent", o, "isError", !ok);
}

static void forget(struct mcp *m, struct cli_exec *x) {
    pthread_mutex_lock(&m->lock);
    cli_exec_unlink(&m->calls, x);
    pthread_mutex_unlock(&m->lock);
}

static void on_done(struct cli_exec *x, const psb_outcome *outcome, const psb_error *err) {
    struct call *c = x->owner;
    struct mcp *m = c->m;
    forget(m, x);
    if (!c->cancelled) {
        const char *text = outcome ? psb_outcome_json(outcome) : NULL;
        json_t *result = text ? tool_result(text) : NULL;
        if (result)
            send_result(m, x->id, result);
        else
            send_error(m, x->id, RPC_INTERNAL,
                       err && err->message[0] ? err->message : "out of memory");
    }
    json_decref(c->progress_token);
    free(c);
}

static const struct cli_exec_ops mcp_ops = {on_output, on_done};

/*
 * tools/call arguments -> a run request: code, inputs, timeout_seconds;
 * *ret_session the session_id, or NULL. NULL with *why.
 */
static json_t *call_request(json_t *args, const char **ret_session, const char **why) {
    const char *key;
    json_t *v, *req = json_object();
    if (!json_is_object(args)) {
        *why = "arguments must be an object with at least 'code'";
        json_decref(req);
        return NULL;
    }
    *ret_session = NULL;
    json_object_foreach(args, key, v) {
        if (strcmp(key, "session_id") == 0) {
            size_t n = json_string_length(v);
            if (!json_is_string(v) || n == 0 || n > 128 || memchr(json_string_value(v), 0, n)) {
                *why = "session_id: must be a string of 1 to 128 characters";
                json_decref(req);
                return NULL;
            }
            *ret_session = json_string_value(v);
            continue;
        }
        const char *field = strcmp(key, "code") == 0              ? "code"
                            : strcmp(key, "inputs") == 0          ? "inputs"
                            : strcmp(key, "timeout_seconds") == 0 ? "timeout"
                                                                  : NULL;
        if (!field) {
            *why = "unknown argument: run_python takes code, inputs, timeout_seconds and "
                   "session_id";
            json_decref(req);
            return NULL;
        }
        json_object_set(req, field, v);
    }
    json_object_set_new(req, "stream", json_true());
    return req;
}

/* tools/call: starts the call (answered from on_done), or answers its error now. */
static void tools_call(struct mcp *m, json_t *id, json_t *params) {
    const char *name = json_string_value(json_object_get(params, "name"));
    const char *why = NULL;
    if (!name || strcmp(name, "run_python") != 0) {
        send_error(m, id, RPC_INVALID_PARAMS, "unknown tool: the one tool is run_python");
        return;
    }
    const char *session = NULL;
    json_t *args = json_object_get(params, "arguments");
    json_t *req = call_request(args, &session, &why);
    if (!req) {
        send_error(m, id, RPC_INVALID_PARAMS, why);
        return;
    }
    struct cli_fault f = {0};
    struct call *c = calloc(1, sizeof *c);
    struct cli_exec *x =
        c ? cli_exec_new(&m->engine, req, CLI_REQ_ENVELOPE, &mcp_ops, c, &f) : NULL;
    json_decref(req);
    if (!x) {
        char msg[CLI_FIELD_MAX + 600];
        snprintf(msg, sizeof msg, "%s%s%s",
                 strcmp(f.field, "timeout") == 0 ? "timeout_seconds" : f.field,
                 f.field[0] ? ": " : "", f.code ? f.message : "out of memory");
        send_error(m, id,
                   f.code && strcmp(f.code, "internal") == 0 ? RPC_INTERNAL : RPC_INVALID_PARAMS,
                   msg);
        free(c);
        return;
    }
    if (session && cli_session_take(&m->engine, m, session, false, x, &f) != 0 &&
        strcmp(f.code, "unknown_session") == 0) {
        memset(&f, 0, sizeof f); /* a new id: its session starts with this call */
        (void)cli_session_take(&m->engine, m, session, true, x, &f);
    }
    if (session && !x->session) {
        char msg[CLI_FIELD_MAX + 600];
        snprintf(msg, sizeof msg, "session_id: %s", f.message);
        send_error(m, id, RPC_INVALID_PARAMS, msg);
        cli_exec_free(x);
        free(c);
        return;
    }
    c->m = m;
    c->progress_token =
        json_incref(json_object_get(json_object_get(params, "_meta"), "progressToken"));
    x->id = json_incref(id);
    x->key = psb__json_dumps(id);
    pthread_mutex_lock(&m->lock);
    x->next = m->calls;
    m->calls = x;
    pthread_mutex_unlock(&m->lock);
    if (!x->key || cli_exec_start(x, &f) != 0) {
        forget(m, x);
        cli_session_untake(&m->engine, x);
        send_error(m, id, RPC_INTERNAL, f.code ? f.message : "out of memory");
        json_decref(c->progress_token);
        free(c);
        cli_exec_free(x);
    }
}

/* notifications/cancelled: the call stops and is not answered. */
static void cancel_call(struct mcp *m, json_t *params) {
    char *key = psb__json_dumps(json_object_get(params, "requestId"));
    pthread_mutex_lock(&m->lock);
    for (struct cli_exec *x = m->calls; key && x; x = x->next) {
        if (x->key && strcmp(x->key, key) == 0) {
            ((struct call *)x->owner)->cancelled = true;
            psb_cancel_fire(x->cancel);
        }
    }
    pthread_mutex_unlock(&m->lock);
    free(key);
}

static json_t *initialize_result(json_t *params) {
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    const char *version = versions[0];
    for (size_t i = 0; asked && i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(asked, versions[i]) == 0)
            version = versions[i];
    return json_pack("{s:s,s:{s:{s:b}},s:{s:s,s:s},s:s}", "protocolVersion", version,
                     "capabilities", "tools", "listChanged", 0, "serverInfo", "name", "pysandbox",
                     "version", PSB_VERSION_STRING, "instructions",
                     "run_python runs Python code in a kernel-confined sandbox; see its "
                     "description for what is available and refused.");
}

/* The tool's description: what it does, and the limits of this server's policy. */
static void describe(struct mcp *m, const psb_config *config) {
    char *text = psb_config_policy_json(config);
    json_t *policy = text ? json_loads(text, 0, NULL) : NULL;
    json_t *limits = json_object_get(policy, "limits");
    json_int_t timeout_ms = json_integer_value(json_object_get(limits, "timeout_ms"));
    json_int_t memory = json_integer_value(json_object_get(limits, "memory_mib"));
    json_int_t out = json_integer_value(json_object_get(limits, "stdout_bytes"));
    snprintf(m->description, sizeof m->description,
             "%s Limits: timeout_seconds (default %.3g), %lld MiB of memory, %lld KiB of "
             "output per stream.",
             tool_description, (double)timeout_ms / 1000.0, (long long)memory,
             (long long)(out / 1024));
    json_decref(policy);
    free(text);
}

static json_t *tools_list(const struct mcp *m) {
    return json_pack(
        "{s:[{s:s,s:s,s:s,s:{s:s,s:{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s,s:f,s:f},s:{s:s,s:s,s:i,"
        "s:i}},s:[s],s:b}}]}",
        "tools", "name", "run_python", "title", "Run Python", "description", m->description,
        "inputSchema", "type", "object", "properties", "code", "type", "string", "description",
        "Python source to run", "inputs", "type", "object", "description",
        "JSON object bound to the global `inputs`", "timeout_seconds", "type", "number",
        "description", "wall-clock limit in seconds", "minimum", 0.001, "maximum", 86400.0,
        "session_id", "type", "string", "description",
        "run in this session: state persists across calls with the same id", "minLength", 1,
        "maxLength", 128, "required", "code", "additionalProperties", 0);
}

/* One JSON-RPC message. */
static void handle(struct mcp *m, json_t *msg) {
    json_t *id = json_object_get(msg, "id"), *params = json_object_get(msg, "params");
    const char *method = json_string_value(json_object_get(msg, "method"));
    const char *version = json_string_value(json_object_get(msg, "jsonrpc"));
    bool valid_id = !id || json_is_string(id) || json_is_integer(id);
    if (!version || strcmp(version, "2.0") != 0 || !method || !valid_id ||
        (params && !json_is_object(params))) {
        if (json_object_get(msg, "result") || json_object_get(msg, "error"))
            return; /* a response to a request this server never sends: ignored */
        send_error(m, valid_id ? id : NULL, RPC_INVALID_REQUEST, "not a JSON-RPC 2.0 request");
        return;
    }
    if (!id) { /* a notification: never answered */
        if (strcmp(method, "notifications/cancelled") == 0)
            cancel_call(m, params);
        return;
    }
    if (strcmp(method, "initialize") == 0)
        send_result(m, id, initialize_result(params));
    else if (strcmp(method, "ping") == 0)
        send_result(m, id, json_object());
    else if (strcmp(method, "tools/list") == 0)
        send_result(m, id, tools_list(m));
    else if (strcmp(method, "tools/call") == 0)
        tools_call(m, id, params);
    else
        send_error(m, id, RPC_METHOD_NOT_FOUND, "method not found");
}

static void mcp_line(struct mcp *m, enum cli_line kind, const char *line, size_t len) {
    if (kind == CLI_LINE_TOO_LONG) {
        send_error(m, NULL, RPC_INVALID_REQUEST, "message too long (dropped)");
        return;
    }
    if (len == 0)
        return;
    json_t *msg =
        psb__utf8_valid(line, len) ? json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!msg)
        send_error(m, NULL, RPC_PARSE_ERROR, "parse error: not valid JSON text in UTF-8");
    else if (!json_is_object(msg))
        send_error(m, NULL, RPC_INVALID_REQUEST, "a message must be a JSON object");
    else
        handle(m, msg);
    json_decref(msg);
}

/* Reads messages until EOF or a signal; the calls in flight are then drained. */
static void mcp_loop(struct mcp *m, int sigfd, size_t max_line) {
    struct cli_lines lines;
    cli_lines_init(&lines, STDIN_FILENO, max_line);
    lines.nonblocking = true;
    for (bool done = false; !done && cli_wait_input(STDIN_FILENO, sigfd, -1);) {
        lines.readable = true;
        char *line;
        size_t len;
        enum cli_line k;
        while ((k = cli_lines_next(&lines, &line, &len)) == CLI_LINE_OK || k == CLI_LINE_TOO_LONG)
            mcp_line(m, k, line, len);
        done = k == CLI_LINE_EOF || k == CLI_LINE_ERROR;
    }
    cli_lines_release(&lines);
}

int cli_cmd_mcp(int argc, char **argv) {
    static const struct option opts[] = {{"policy", required_argument, NULL, 'p'},
                                         {"max-in-flight", required_argument, NULL, 'n'},
                                         {"max-sessions", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *policy = NULL;
    uint64_t max_in_flight = 4, max_sessions = 8;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(mcp_help, stdout);
            return CLI_EXIT_OK;
        }
        if (c == 'p') {
            policy = optarg;
        } else if (c == 's' && cli_parse_u64(optarg, &max_sessions) == CLI_NUM_OK &&
                   max_sessions <= 256) {
            continue;
        } else if (c != 'n' || cli_parse_u64(optarg, &max_in_flight) != CLI_NUM_OK ||
                   max_in_flight < 1 || max_in_flight > 256) {
            fprintf(stderr,
                    CLI_PROG ": error: bad option '%s'\nTry '" CLI_PROG
                             " mcp --help' for more information.\n",
                    argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, CLI_PROG ": error: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    psb_error err = {0};
    psb_config *config = psb_config_new(&err);
    const char *helper = cli_helper_path();
    if (config && policy && psb_config_set_policy(config, policy, &err) != PSB_OK) {
        fprintf(stderr, CLI_PROG ": error: --policy: %s\n", err.message);
        psb_config_free(config);
        return CLI_EXIT_USAGE;
    }
    if (config && helper)
        (void)psb_config_set_helper_path(config, helper, &err);
    int sigfd = cli_stop_signals();
    struct mcp m = {0};
    pthread_mutex_init(&m.lock, NULL);
    cli_out_init(&m.out, STDOUT_FILENO);
    int rc = CLI_EXIT_OK;
    if (!config || sigfd < 0 ||
        cli_engine_init(&m.engine, config, policy, (unsigned)max_in_flight, &err) != 0) {
        fprintf(stderr, CLI_PROG ": error: starting the sandbox: %s\n", err.message);
        rc = CLI_EXIT_INTERNAL;
    } else {
        describe(&m, config);
        m.engine.max_sessions = (unsigned)max_sessions;
        mcp_loop(&m, sigfd, (size_t)128 << 20);
    }
    cli_engine_release(&m.engine);
    cli_out_release(&m.out);
    pthread_mutex_destroy(&m.lock);
    if (sigfd >= 0)
        close(sigfd);
    psb_config_free(config);
    return rc;
}
