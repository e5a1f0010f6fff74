/*
 * connect.c - `run --connect unix:PATH`: the same run, sent to a running
 * `pysandbox serve`, which keeps a warm helper between runs. Whatever the
 * server answers is checked before it is believed: a line that is not the
 * protocol's is an error, never a guess.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"

/* The protocol version this client speaks (serve.h's SERVE_PROTOCOL). */
#define PROTOCOL 1
/* Largest answer line: an outcome with every cap at its maximum, as base64. */
#define ANSWER_MAX_BYTES ((size_t)4 << 30)

static int dial(const char *target, char *errbuf, size_t size) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strncmp(target, "unix:", 5) != 0 || !target[5] || strlen(target + 5) >= sizeof a.sun_path) {
        snprintf(errbuf, size, "--connect: '%s' is not unix:PATH", target);
        return -1;
    }
    snprintf(a.sun_path, sizeof a.sun_path, "%s", target + 5);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(errbuf, size, "--connect: cannot reach a server at %s: %s", target + 5,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The next line as a JSON object, or NULL with the reason in errbuf. */
static json_t *next_doc(struct cli_lines *l, char *errbuf, size_t size) {
    char *line;
    size_t len;
    enum cli_line k = cli_lines_next(l, &line, &len);
    json_t *doc = k == CLI_LINE_OK ? json_loadb(line, len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        snprintf(errbuf, size, "the server %s",
                 k == CLI_LINE_EOF ? "closed the connection before it answered"
                                   : "sent a line that is not the protocol's");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* A refusal: "the server refused the request: FIELD: MESSAGE" and its exit status. */
static int refused(const json_t *error, int *ret_rc, char *errbuf, size_t size) {
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    snprintf(errbuf, size, "the server refused the request (%s): %s", code ? code : "?",
             message ? message : "");
    bool ours = code && strcmp(code, "busy") != 0 && strcmp(code, "internal") != 0;
    *ret_rc = ours ? CLI_EXIT_USAGE : CLI_EXIT_INTERNAL;
    return -1;
}

/* Reads until the answer to id 1; events and other lines of the protocol are skipped. */
static int await_answer(struct cli_lines *l, struct cli_view *v, int *ret_rc, char *errbuf,
                        size_t size) {
    for (;;) {
        json_t *doc = next_doc(l, errbuf, size);
        if (!doc)
            return -1;
        json_t *id = json_object_get(doc, "id");
        json_t *outcome = json_object_get(doc, "outcome"), *error = json_object_get(doc, "error");
        int rc = 1;
        if (error && (!id || json_is_null(id) || json_integer_value(id) == 1))
            rc = refused(error, ret_rc, errbuf, size);
        else if (json_integer_value(id) == 1 && outcome)
            rc = cli_view_from_json(v, outcome) == 0
                     ? 0
                     : (snprintf(errbuf, size, "the server sent a malformed outcome"), -1);
        json_decref(doc);
        if (rc <= 0)
            return rc;
    }
}

int cli_connect_run(const char *target, const json_t *request, struct cli_view *v, int *ret_rc,
                    char *errbuf, size_t size) {
    *ret_rc = CLI_EXIT_INTERNAL;
    memset(v, 0, sizeof *v);
    int fd = dial(target, errbuf, size);
    if (fd < 0) {
        *ret_rc = strncmp(target, "unix:", 5) == 0 ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
        return -1;
    }
    struct cli_lines lines;
    struct cli_out out;
    cli_lines_init(&lines, fd, ANSWER_MAX_BYTES);
    cli_out_init(&out, fd);
    out.socket = true;
    int rc = -1;
    json_t *hello = next_doc(&lines, errbuf, size);
    json_t *version = json_object_get(json_object_get(hello, "hello"), "protocol");
    json_t *req = json_deep_copy(request);
    if (hello && json_integer_value(version) != PROTOCOL) {
        snprintf(errbuf, size, "the server at %s speaks another protocol", target + 5);
    } else if (hello && req) {
        json_object_set_new(req, "id", json_integer(1));
        json_object_set_new(req, "op", json_string("run"));
        if (cli_out_json(&out, json_incref(req)) != 0)
            snprintf(errbuf, size, "the server at %s closed the connection", target + 5);
        else
            rc = await_answer(&lines, v, ret_rc, errbuf, size);
    }
    json_decref(req);
    json_decref(hello);
    cli_lines_release(&lines);
    cli_out_release(&out);
    close(fd);
    return rc;
}
