/*
 * jupyter.h - internal interface of `pysandbox kernel`, a Jupyter kernel
 * (messaging protocol 5.3 over ZeroMQ) whose cells run in a confined
 * session. The kernel's process never runs user code: it signs and checks
 * messages, and passes code and outputs between the client and the session.
 *
 * Threads: the main one serves shell (and stdin, which only an input()
 * of the running cell waits on); one serves control (interrupt, shutdown),
 * one the heartbeat. IOPub is shared under a lock.
 */
#ifndef PSB_JUPYTER_H
#define PSB_JUPYTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/cli.h"
#include "pysandbox.h"

/* The protocol version this kernel speaks. */
#define JK_PROTOCOL_VERSION "5.3"
/* Largest message part accepted from a client (code is at most 16 MiB). */
#define JK_MAX_PART_BYTES ((int64_t)32 << 20)
/* Most cells history_request can return. */
#define JK_MAX_HISTORY 10000

/* ---- conn.c: the connection file, signatures, messages --------------- */

/* What a connection file says. */
struct jk_conn {
    char transport[8];  /* "tcp" or "ipc" */
    char ip[256];       /* address, or the ipc path prefix */
    int ports[5];       /* by enum jk_channel */
    unsigned char *key; /* HMAC-SHA256 key (may be empty: no signatures) */
    size_t key_len;
    char session[40]; /* this kernel's session id (a UUID) */
};

enum jk_channel { JK_SHELL, JK_IOPUB, JK_STDIN, JK_CONTROL, JK_HB, JK_CHANNELS };

/* Reads a connection file. 0, or -1 with a message in err (size errsize). */
int jk_conn_load(struct jk_conn *c, const char *path, char *err, size_t errsize);
void jk_conn_release(struct jk_conn *c);
/* The endpoint of a channel ("tcp://127.0.0.1:5555", "ipc://path-5555"). */
void jk_conn_endpoint(const struct jk_conn *c, enum jk_channel ch, char *buf, size_t size);
/* A fresh UUID4 as text (37 bytes with the NUL). */
void jk_uuid(char out[37]);

/* A message as the wire carries it, its identities kept for the reply. */
struct jk_msg {
    void **ids; /* routing identities (malloc'd copies) */
    size_t *id_lens;
    size_t n_ids;
    json_t *header, *parent, *metadata, *content;
    const char *type; /* header.msg_type */
};

/*
 * Receives one message from sock. 0 with *m filled (jk_msg_release() it);
 * 1 when a message arrived but was dropped (bad signature, not the
 * protocol's shape), with the reason in why; -1 when the socket failed.
 */
int jk_msg_recv(const struct jk_conn *c, void *sock, struct jk_msg *m, char *why, size_t whysize);
void jk_msg_release(struct jk_msg *m);

/*
 * Sends a message of type with content (stolen) on sock, as a reply to
 * parent (NULL: none): to parent's identities, or with topic as the
 * IOPub topic when topic is set. 0, or -1.
 */
int jk_msg_send(const struct jk_conn *c, void *sock, const struct jk_msg *parent, const char *type,
                json_t *content, const char *topic);

/* ---- kernel.c: the kernel's state -------------------------------------- */

struct jk_history {
    unsigned count; /* its execution count */
    char *code;
};

struct jk_kernel {
    struct jk_conn conn;
    void *zmq;                  /* the ZeroMQ context */
    void *sock[JK_CHANNELS];    /* by enum jk_channel */
    pthread_mutex_t iopub_lock; /* one sender at a time */
    atomic_bool stop;           /* shutdown asked (or a signal came) */
    bool restart;               /* the shutdown said a restart follows */
    int wake[2];                /* a pipe that wakes the shell loop */
    psb_config *config;
    psb_sandbox *sandbox;
    psb_session *session; /* NULL until started, or after it was lost */
    const psb_exec_options *session_options;
    uint64_t timeout_ms;       /* each cell's, 0: the policy's */
    pthread_mutex_t cell_lock; /* guards cancel */
    psb_cancel *cancel;        /* the running cell's, or NULL */
    unsigned execution_count;
    struct jk_history *history;
    size_t n_history;
    char language_version[32];      /* the sandbox's Python, "3.11.2" */
    const struct jk_msg *running;   /* the execute_request being run (shell thread only) */
    struct cli_chunk_tail tails[2]; /* the running cell's stdout and stderr */
};

/*
 * Receives a message on channel ch as jk_msg_recv(), logging on stderr
 * why one was dropped (1). 0, 1 or -1.
 */
int jk_recv(struct jk_kernel *k, enum jk_channel ch, struct jk_msg *m);
/* Publishes a message on IOPub (content stolen). 0, or -1. */
int jk_publish(struct jk_kernel *k, const struct jk_msg *parent, const char *type, json_t *content);
/* Publishes {"execution_state": state}. */
void jk_status(struct jk_kernel *k, const struct jk_msg *parent, const char *state);
/* A fresh session when there is none (or it was lost). 0, or -1 with err. */
int jk_session_ensure(struct jk_kernel *k, psb_error *err);

/* ---- shell.c: the requests --------------------------------------------- */

/* Serves one request of the shell channel (busy/idle around it). */
void jk_shell_handle(struct jk_kernel *k, const struct jk_msg *m);
/* Serves one request of the control channel. */
void jk_control_handle(struct jk_kernel *k, const struct jk_msg *m);
/* The kernel_info_reply content. */
json_t *jk_kernel_info(const struct jk_kernel *k);

/* ---- install.c --------------------------------------------------------- */

/* `pysandbox kernel install ...`: argv[0] is "install". An exit status. */
int jk_cmd_install(int argc, char **argv);

#endif /* PSB_JUPYTER_H */
