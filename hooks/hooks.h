/*
 * hooks/hooks.h - the Python-level layer: a PEP 578 audit hook and an
 * import filter, both installed from C. They turn an action the policy
 * refuses into a clear exception; the kernel layers are the boundary.
 */
#ifndef PSB_HOOKS_H
#define PSB_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "include/pysandbox.h"

/* ---- paths.c: pure path logic, no Python ---- */

/* A set of absolute directory or file prefixes. */
typedef struct psb__pathset {
    char **paths; /* normalized absolute paths, no trailing slash */
    size_t n;     /* entries used */
    size_t cap;   /* entries allocated */
} psb__pathset;

/* Adds path (normalized lexically; realpath'd when it exists). 0 or -1. */
int psb__pathset_add(psb__pathset *set, const char *path);
/* true if abs_path equals an entry or lies below one. */
bool psb__pathset_contains(const psb__pathset *set, const char *abs_path);
/* Frees the entries. */
void psb__pathset_clear(psb__pathset *set);
/*
 * Resolves path against cwd to an absolute path, following symlinks of the
 * existing part (realpath of the parent when the file does not exist yet).
 * Returns 0, or -1 when the result does not fit in out_size.
 */
int psb__path_resolve(const char *path, char *out, size_t out_size);
/* Lexical normalization of an absolute path: "//", "/./", "/../". */
void psb__path_normalize(char *path);

/* How the import filter treats a frame, by its code's filename. */
typedef enum psb__frame_class {
    PSB__FRAME_USER,        /* user code: judged by the policy */
    PSB__FRAME_TRUSTED,     /* an installed library: its imports are its own */
    PSB__FRAME_TRANSPARENT, /* import machinery and our shims: look further up */
} psb__frame_class;

/* Classifies a frame's filename against the trusted library roots. */
psb__frame_class psb__frame_classify(const char *filename, const psb__pathset *trusted,
                                     const psb__pathset *transparent);

/* ---- audit.c and importfilter.c: in the child, with Python ---- */

/* Adds the audit hook (dormant). Call before Py_InitializeFromConfig. 0 or -1. */
int psb__hooks_preinit(void);
/*
 * Once per interpreter, after initialization: computes the trusted library
 * roots from sys.path and installs the import filter (builtins.__import__,
 * a meta path finder, importlib guards) with the support module's helpers,
 * dormant until armed. 0, or -1 with a Python exception set.
 */
int psb__hooks_install(void *support_module);
/*
 * The readable paths, and the scratch dir as the one writable place, for the
 * audit hook (realpath'd now). Pure C: a spare child calls it before its
 * request; later calls are no-ops. 0, or -1 when scratch cannot be resolved.
 */
int psb__hooks_set_paths(const json_t *readable_paths, const char *scratch);
/* One more readable path for the audit hook (the start-up cache). 0 or -1. */
int psb__hooks_add_readable(const char *path);
/*
 * Puts module layer dirs (a JSON array of paths) first on sys.path, in
 * order, skipping those already there, and makes them trusted library roots
 * and readable. 0, or -1 with a Python exception set.
 */
int psb__hooks_add_sites(const json_t *sites);
/*
 * Per execution: the request's denied events and import rules, its paths
 * (psb__hooks_set_paths) unless already set, its writable dir and its module
 * layers (psb__hooks_add_sites). 0, or -1 with a Python exception set.
 */
struct psb__request;
int psb__hooks_configure(const struct psb__request *req, const char *scratch);
/* Arms the audit hook and import filter for user code. */
void psb__hooks_arm(void);

/* The last denial: an import or an audit event, the module or event. */
typedef struct psb__denial {
    psb_error_kind kind; /* IMPORT_DENIED or DENIED; NONE when nothing was denied */
    char name[256];      /* module or event */
    char message[512];   /* the exception message raised */
} psb__denial;
const psb__denial *psb__hooks_last_denial(void);

/* Init function of the built-in `_pysandbox` module (for PyImport_AppendInittab). */
void *psb__hooks_module_init(void);

/* Shared state of audit.c and importfilter.c (defined in paths.c). */
struct psb__hooks_state {
    bool armed;                 /* enforcing (user code may run) */
    psb__pathset readable;      /* reads allowed below these */
    psb__pathset writable;      /* writes allowed below these (the scratch dir) */
    bool paths_set;             /* readable and writable are filled in */
    psb__pathset trusted;       /* library roots for frame classification */
    psb__pathset transparent;   /* stdlib importlib/ and ctypes/: look past them */
    json_t *denied_events;      /* refused whoever raises them ("x.*" = prefix) */
    json_t *user_denied_events; /* refused when user code raises them */
    json_t *import_rules;       /* array of {"module","allow"} */
    bool import_default_allow;  /* no rule matched */
    psb__denial last;           /* most recent denial */
};
extern struct psb__hooks_state psb__hooks;

/*
 * true if the code running now is user code: the nearest frame that is not
 * import machinery or ctypes belongs to neither the stdlib nor an installed
 * library (or runs in globals that are not its module's own).
 */
bool psb__hooks_caller_is_user(void);

/* Records a denial and raises exc_type(message). Returns -1. */
int psb__hooks_deny(void *exc_type, psb_error_kind kind, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* PSB_HOOKS_H */
