/*
 * host/host.h - the library's internal interface (the host process:
 * multithreaded, never Python, never fork): configurations, options,
 * outcomes, the verdict on an execution and building its request.
 */
#ifndef PSB_HOST_HOST_H
#define PSB_HOST_HOST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/wire.h"
#include "policy/policy.h"

struct psb_config {
    psb__policy policy;       /* validated policy (owns its JSON document) */
    char *helper_path;        /* NULL: $PYSANDBOX_HELPER, install, build path */
    unsigned max_concurrency; /* executions in flight per sandbox */
    psb_mode mode;            /* warm (default) or cold */
    char *preload;            /* comma-separated modules; NULL = default set */
    unsigned test_layers;     /* diagnostics: layers to turn on (0 = all) */
    bool wait_warm;           /* psb_config_set_early_start(0) */
    char *cache_dir;          /* NULL: the default (psb__cache_dir) */
    char *layers_dir;         /* NULL: the default (psb__layers_root) */
    char *python;             /* an external interpreter, or NULL: the embedded one */
};

/* test_layers for "no layer at all" (psb_config_set_diagnostic_layers(0)). */
#define PSB__LAYERS_NONE 0x100u

struct psb_exec_options {
    bool has_limit[PSB__LIMIT_COUNT]; /* which limits override the policy */
    psb__limits limits;               /* units as in psb__limit_key() */
    bool has_stdin;                   /* stdin data given (may be empty) */
    psb__buf stdin_data;              /* bytes for the child's stdin */
    json_t *env;                      /* object NAME -> value, may be NULL */
    char *prelude;                    /* UTF-8 code or NULL */
    json_t *import_rules;             /* array of {"module","allow"} or NULL */
    json_t *inputs;                   /* the `inputs` object or NULL */
    struct psb__file *files;          /* files placed in the scratch dir */
    size_t n_files;                   /* entries in files */
    size_t files_bytes;               /* their total size */
    psb_cancel *cancel;               /* the token this execution obeys, or NULL */
    psb_output_fn on_output;          /* streams stdout and stderr, or NULL */
    void *on_output_user;             /* its first argument */
    psb_input_fn on_input;            /* answers input(), or NULL: input() reads stdin */
    void *on_input_user;              /* its first argument */
    json_t *layers;                   /* module layer names to mount, or NULL */
    char *writable;                   /* a layer install's new generation, or NULL */
};

/* A cancellation token (cancel.c). */
struct psb_cancel {
    atomic_int fired; /* set once, never cleared */
    int fd;           /* eventfd, readable once fired */
};

/* A PNG captured from matplotlib. */
struct psb__figure {
    char mime[16];   /* "image/png" */
    unsigned width;  /* pixels */
    unsigned height; /* pixels */
    psb__buf data;   /* the encoded image */
};

/* A MIME bundle from display() or the last expression, checked. */
struct psb__display {
    bool result;                              /* execute_result (else display_data) */
    size_t n;                                 /* entries */
    struct psb__mime_entry e[PSB__MAX_MIMES]; /* pointing into store */
    char *store;                              /* each MIME type and value, NUL-terminated */
};

struct psb_outcome {
    bool ok;                       /* status "ok" */
    psb_error_kind kind;           /* PSB_KIND_NONE when ok */
    char *type;                    /* Python exception type or NULL */
    char *message;                 /* error message or NULL */
    char *traceback;               /* formatted user traceback or NULL */
    char *module;                  /* denied module or NULL */
    char *event;                   /* denied audit event / syscall or NULL */
    char *result_json;             /* compact JSON of `result` ("null" if none) */
    psb__buf out, err;             /* captured stdout and stderr bytes */
    bool out_trunc, err_trunc;     /* a cap cut the stream */
    psb_stats stats;               /* wall, CPU, peak RSS */
    struct psb__figure *figures;   /* captured figures */
    size_t n_figures;              /* entries in figures */
    bool figures_trunc;            /* the figure cap dropped some */
    struct psb__file *files;       /* files the code wrote in its working directory */
    size_t n_files;                /* entries in files */
    struct psb__display *displays; /* display() bundles, then the last expression's */
    size_t n_displays;             /* entries in displays */
    bool displays_trunc;           /* the display caps dropped or cut some */
    char *json;                    /* psb_outcome_json() cache, built on demand */
};

/* How far the child's reply got, as the library read it. */
enum psb__reply_state {
    PSB__REPLY_NONE,      /* no complete REPLY and RESULT frame */
    PSB__REPLY_COMPLETE,  /* REPLY, RESULT and any figures and files, well-formed */
    PSB__REPLY_MALFORMED, /* a frame of the wrong type, size or content */
    PSB__REPLY_TOO_LARGE, /* the result broke its cap */
};

/* Which details of the child's claim an outcome keeps. */
enum psb__verdict_detail {
    PSB__DETAIL_NONE,      /* none: the message is the verdict's */
    PSB__DETAIL_CLAIM,     /* type, message, traceback, module, event */
    PSB__DETAIL_TRACEBACK, /* only the traceback (a timeout) */
    PSB__DETAIL_SIGNAL,    /* none, and the signal name is worth reporting */
};

/* Which frames of the reply may come next. */
enum psb__reply_phase {
    PSB__PHASE_REPLY,  /* the REPLY frame */
    PSB__PHASE_RESULT, /* the RESULT frame */
    PSB__PHASE_EXTRAS, /* FIGURE and FILE frames, until the child closes the socket */
};

/* What the reply has brought so far, against the caps. */
struct psb__reply_count {
    size_t figures, files, displays;                  /* frames taken */
    uint64_t figure_bytes, file_bytes, display_bytes; /* their payload bytes */
};

/* The REPLY frame is metadata: the child cuts messages and tracebacks to fit. */
#define PSB__REPLY_MAX_BYTES ((uint64_t)256 << 10)

/*
 * Whether the library reads a frame whose header announces type and len,
 * before reading a byte of it: PSB__REPLY_NONE to read it; MALFORMED for a
 * frame out of order, past the count caps or over a metadata cap;
 * TOO_LARGE for a result over result_bytes (an output_limit, not a lie).
 * Figures share figures_bytes, files files_bytes (plus a name). Pure.
 */
enum psb__reply_state psb__frame_admit(enum psb__reply_phase phase, uint32_t type, uint64_t len,
                                       const struct psb__reply_count *count,
                                       const psb__limits *limits);

/*
 * The kind of an execution's outcome (PSB_KIND_NONE for ok): the kernel's
 * facts in x first, then the state of the reply, then claimed (the
 * child's kind, PSB_KIND_NONE when it claimed ok), which may only name what
 * the code could have caused itself. Writes the message for kinds it
 * decides into msg. Pure.
 */
psb_error_kind psb__verdict(const struct psb__exit *x, enum psb__reply_state reply,
                            psb_error_kind claimed, const psb__limits *limits, char *msg,
                            size_t msg_size, enum psb__verdict_detail *ret_detail);
/*
 * Runs one execution over helper, the execution's socket to the helper
 * (not closed here): hands the child's channels over with the control
 * part of req (tagged PSB__TAG_EXEC, or a session's first cell or next
 * one), sends req_text (the request), stdin and input files straight to
 * the child, reads its output under the caps in limits and decides the
 * outcome; *ret_exit (may be NULL) gets the helper's STATUS. PSB_EHELPER
 * (err->sys_errno ETIMEDOUT for a hung helper) when the helper died or
 * hung; other errors are the library's own.
 */
psb_status psb__exec_run(int helper, char tag, const json_t *req, const char *req_text,
                         const psb_exec_options *options, const psb__limits *limits,
                         psb_outcome **ret_outcome, struct psb__exit *ret_exit, psb_error *err);
/* Copies a checked DISPLAY payload into *ret. 0, or -1 when malformed or out of memory. */
int psb__display_take(const psb__buf *payload, struct psb__display *ret);
/* The displays of an outcome as a JSON array (malloc'd), NULL when out of memory. */
char *psb__displays_json(const psb_outcome *o);
/* Frees an array of displays. */
void psb__displays_free(struct psb__display *d, size_t n);
/* An outcome with an error of this kind and message; NULL when out of memory. */
psb_outcome *psb__outcome_error(psb_error_kind kind, const char *message);

/*
 * Builds the request document for one execution: the policy merged with the
 * options (options win), the code and prelude, and the limits in force. On
 * error returns NULL and fills err.
 */
json_t *psb__request_build(const psb__policy *policy, const psb_exec_options *options,
                           const json_t *sites, const char *code, size_t len,
                           psb__limits *ret_limits, psb_error *err);

/* ---- modlayers.c and layer_install.c: module layers on disk ---- */

/* Longest layers dir: room is left for a layer's name and generation below it. */
#define PSB__LAYERS_ROOT_MAX 3968
/* The layers dir: configured, or $PYSANDBOX_LAYERS, $XDG_DATA_HOME/..., ~/.local/share/... */
psb_status psb__layers_root(const char *configured, char *buf, size_t size, psb_error *err);
/* The current generation dir of layer name (it must exist, in a sound root). */
psb_status psb__layer_resolve(const char *root, const char *name, char *buf, size_t size,
                              psb_error *err);
/* Appends the dirs of the layers named (a JSON array) to sites, each once. */
psb_status psb__sites_add(const char *root, const json_t *names, json_t *sites, psb_error *err);
/* Holds the layer's lock (blocking) in *ret_fd; close it to let go. */
psb_status psb__layer_lock(const char *root, const char *name, int *ret_fd, psb_error *err);
/* Makes an empty new generation of the layer (0755), its path in buf. */
psb_status psb__layer_new_gen(const char *root, const char *name, char *buf, size_t size,
                              psb_error *err);
/* Points the layer at generation gen, atomically. */
psb_status psb__layer_switch(const char *root, const char *name, const char *gen, psb_error *err);
/* Removes the layer's generations but keep1 and keep2 (either may be NULL). */
void psb__layer_gc(const char *root, const char *name, const char *keep1, const char *keep2);
/* Deepest directory nesting the layer tree walks (removal, adoption) go into. */
#define PSB__TREE_MAX_DEPTH 64
/* Removes a directory tree without following links. 0, or -1 with errno. */
int psb__tree_remove(const char *path);
/*
 * The start-up cache dir for a sandbox: configured (NULL: the default for
 * this user), created if missing (0755, parents 0700), and kept only if it
 * is a directory of ours that no one else can write. 0 with the path in
 * buf, or -1: run without a shared cache.
 */
int psb__cache_dir(const char *configured, char *buf, size_t size);

/* ---- sandbox.c, for sessions (session.c) ---- */

/*
 * The module layer dirs of an execution (*ret_sites, NULL when the options
 * name none: the sandbox's own apply, psb__sandbox_own_sites).
 */
psb_status psb__sandbox_sites(const psb_sandbox *sb, const psb_exec_options *options,
                              json_t **ret_sites, psb_error *err);
/* true if the sandbox runs an external interpreter (psb_config_set_python). */
bool psb__sandbox_external(const psb_sandbox *sb);
/* The dirs of the sandbox policy's module layers (borrowed, may be NULL). */
const json_t *psb__sandbox_own_sites(const psb_sandbox *sb);
/* The sandbox's policy (fixed for its life). */
const psb__policy *psb__sandbox_policy(const psb_sandbox *sb);
/*
 * Hands one end of a fresh socket to the helper (starting one if none
 * runs); *ret_fd is ours, *ret_helper the helper it went to.
 */
psb_status psb__sandbox_open_channel(psb_sandbox *sb, int *ret_fd, pid_t *ret_helper,
                                     psb_error *err);
/* Takes one of the sandbox's execution slots (waits); false when cancel fired first. */
bool psb__sandbox_acquire(psb_sandbox *sb, const psb_cancel *cancel);
void psb__sandbox_release(psb_sandbox *sb);
/* The helper died or hung with an execution in flight: the next one starts another. */
void psb__sandbox_helper_lost(psb_sandbox *sb, pid_t helper);

/* Validates code for psb_exec()/prelude: UTF-8, no NUL, size cap. */
psb_status psb__code_check(const char *code, size_t len, const char *what, psb_error *err);

#endif /* PSB_HOST_HOST_H */
