/*
 * serve.h - `pysandbox serve`, inside: the protocol (serve.c) and its
 * transports (server.c), stdio or a unix socket with one thread per client.
 */
#ifndef PSB_CLI_SERVE_H
#define PSB_CLI_SERVE_H

#include "cli/cli.h"

/* The protocol version "hello" names; a client may refuse one it does not know. */
#define SERVE_PROTOCOL 1

/* The default cap on a request line: 64 MiB of data as base64, plus code. */
#define SERVE_MAX_LINE_DEFAULT ((size_t)128 << 20)

struct serve_conn;

struct serve {
    psb_config *config;
    struct cli_engine engine;
    size_t max_line;  /* longest request line */
    bool allow_widen; /* requests may carry allow_import */
    bool layer_admin; /* layer_create, layer_install, layer_remove allowed */
    /* Set by the transport: */
    void (*request_stop)(struct serve *srv);    /* a client asked for shutdown */
    void (*on_conn_gone)(struct serve_conn *c); /* the connection is being freed */
    void *transport;                            /* the transport's own state */
};

/* One client: its output, its executions in flight. */
struct serve_conn {
    struct serve *srv;
    int in_fd;
    struct cli_out out;
    pthread_mutex_t lock;         /* execs, refs */
    struct cli_exec *execs;       /* in flight, by id */
    unsigned refs;                /* the reader, and each execution */
    struct serve_conn *next_conn; /* the transport's list */
};

/* A connection reading in_fd and answering on out_fd. NULL when out of memory. */
struct serve_conn *serve_conn_new(struct serve *srv, int in_fd, int out_fd, bool socket);
/* The reader is done with c (cancel: also stop c's executions); c goes once they end. */
void serve_conn_close(struct serve_conn *c, bool cancel);
/* One line from the client (kind from cli_lines_next(): OK or TOO_LONG). */
void serve_line(struct serve_conn *c, enum cli_line kind, const char *line, size_t len);
/* The {"hello": ...} line a client gets first. */
json_t *serve_hello(const struct serve *srv);
/* Only the fields an operation takes: 0, or -1 naming the first other in *f. */
int serve_only_fields(json_t *req, const char *const *names, struct cli_fault *f);

/* ---- serve_layers.c ---- */

/* true for layer_list, layer_create, layer_install and layer_remove. */
bool serve_is_layer_op(const char *op);
/* Runs one of them and answers it: 0, or -1 with *f set (nothing answered). */
int serve_layer_op(struct serve_conn *c, json_t *req, json_t *id, const char *op,
                   struct cli_fault *f);

#endif /* PSB_CLI_SERVE_H */
