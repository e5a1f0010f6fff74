/*
 * policy/request.h - an execution's request as the helper and the child
 * read it: the REQUEST frame's document (and the CONTROL frame's part of
 * it) checked and decoded once into a struct, so nothing downstream looks
 * keys up or checks types again. The library builds the document
 * (host/request.c) with the keys of base/wire.h.
 */
#ifndef PSB_POLICY_REQUEST_H
#define PSB_POLICY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "policy/policy.h"

/*
 * A decoded request. Pointers borrow from the document it was decoded
 * from, which must outlive it.
 */
struct psb__request {
    const char *code;                 /* the user's code (UTF-8, may hold no NUL) */
    size_t code_len;                  /* its length in bytes */
    const char *prelude;              /* code run before it, or NULL */
    const json_t *inputs;             /* the `inputs` object, or NULL */
    psb__limits limits;               /* every limit, in range */
    const json_t *env;                /* object NAME -> string, names valid */
    bool default_allow;               /* imports no rule matches are allowed */
    const json_t *import_rules;       /* array of {"module": name, "allow": bool} */
    const json_t *denied_events;      /* array of audit event names */
    const json_t *user_denied_events; /* array: the subset the policy named itself */
    const json_t *readable_paths;     /* array of paths */
    bool network;                     /* sockets allowed */
    bool has_stdin;                   /* a STDIN frame follows the request */
    const json_t *files;              /* array of input file names; FILE frames follow */
    bool session;                     /* a session: the child runs further cells */
    bool input;                       /* input() asks the library for each line */
    const char *ask;                  /* a question about code instead of a cell, or NULL */
    size_t cursor;                    /* its cursor (code points into code) */
    const json_t *sites;              /* array of module layer dirs, first on sys.path */
    const char *writable;             /* a dir writable beside the scratch dir, or NULL */
};

/* The CONTROL frame: what the helper needs and nothing of the tenant's data. */
struct psb__control {
    psb__limits limits;           /* every limit, in range */
    const json_t *readable_paths; /* array of paths */
    const char *writable;         /* a dir writable beside the scratch dir, or NULL */
};

/*
 * Checks a REQUEST document (types, ranges, names) and decodes it into
 * *ret. 0, or -1 with "malformed request: KEY" in msg.
 */
int psb__request_decode(const json_t *doc, struct psb__request *ret, char *msg, size_t msg_size);
/* The same for a CONTROL document {"limits", "readable_paths", "writable"?}. */
int psb__control_decode(const json_t *doc, struct psb__control *ret, char *msg, size_t msg_size);

#endif /* PSB_POLICY_REQUEST_H */
