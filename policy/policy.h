/*
 * policy/policy.h - the policy model, for the library and the helper: what
 * an execution may import, which audit events it may raise, what it may
 * read, whether it has a network, its limits and environment; the JSON
 * form of a policy, its presets, limit ranges and confinement layer
 * names. Enforcing it is policy/confine/'s job.
 */
#ifndef PSB_POLICY_POLICY_H
#define PSB_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "base/base.h"

/* Every limit a user controls, by index into psb__limits.v. */
#define PSB__LIMIT_MAP(X)                                                                          \
    /* name            key              min   max                 default */                       \
    X(TIMEOUT_MS, "timeout_ms", 1, 86400000ull, 30000ull)                                          \
    X(MEMORY_MIB, "memory_mib", 32, 1048576ull, 512ull)                                            \
    X(CPU_S, "cpu_s", 1, 86400ull, 30ull)                                                          \
    X(STDOUT_BYTES, "stdout_bytes", 0, 1073741824ull, 1048576ull)                                  \
    X(STDERR_BYTES, "stderr_bytes", 0, 1073741824ull, 1048576ull)                                  \
    X(RESULT_BYTES, "result_bytes", 2, 1073741824ull, 16777216ull)                                 \
    X(OPEN_FILES, "open_files", 16, 65536ull, 256ull)                                              \
    X(FILE_SIZE_MIB, "file_size_mib", 1, 1048576ull, 64ull)                                        \
    X(SCRATCH_MIB, "scratch_mib", 1, 65536ull, 64ull)                                              \
    X(FIGURES_BYTES, "figures_bytes", 0, 268435456ull, 16777216ull)                                \
    X(FILES_BYTES, "files_bytes", 0, 268435456ull, 16777216ull)                                    \
    X(THREADS, "threads", 1, 4096ull, 64ull)                                                       \
    X(DISPLAY_BYTES, "display_bytes", 0, 268435456ull, 4194304ull)                                 \
    X(DISPLAYS_BYTES, "displays_bytes", 0, 268435456ull, 16777216ull)                              \
    X(SESSION_LIFETIME_S, "session_lifetime_s", 1, 604800ull, 86400ull)                            \
    X(SESSION_IDLE_S, "session_idle_s", 1, 604800ull, 900ull)                                      \
    X(SNAPSHOTS, "snapshots", 0, 256ull, 16ull)

enum psb__limit_id {
#define PSB__LIMIT_ENUM(id, key, min, max, def) PSB__LIMIT_##id,
    PSB__LIMIT_MAP(PSB__LIMIT_ENUM)
#undef PSB__LIMIT_ENUM
        PSB__LIMIT_COUNT
};

typedef struct psb__limits {
    uint64_t v[PSB__LIMIT_COUNT]; /* units as in the key names */
} psb__limits;

/* The JSON key of a limit ("timeout_ms"). */
const char *psb__limit_key(enum psb__limit_id id);
/* Fills limits with the defaults. */
void psb__limits_default(psb__limits *limits);
/*
 * Checks value against the range of limit id. Returns PSB_OK, or PSB_EINVAL
 * with a message naming `what` and the range.
 */
psb_status psb__limit_check(enum psb__limit_id id, uint64_t value, const char *what,
                            psb_error *err);
/* The id of a limit key, or -1. */
int psb__limit_find(const char *key);

/* Caps on list sizes shared by policies and per-execution options. */
#define PSB__MAX_IMPORT_RULES 256
#define PSB__MAX_ENV_VARS 256
#define PSB__MAX_ENV_BYTES (64u * 1024u)
#define PSB__MAX_PATHS 256
#define PSB__MAX_MODULE_NAME 255
#define PSB__MAX_MODLAYERS 16     /* module layers one execution mounts */
#define PSB__MAX_MODLAYER_NAME 64 /* longest module layer name */

typedef struct psb__policy {
    char name[64];      /* preset name or "file" */
    json_t *doc;        /* the validated, normalized policy document */
    psb__limits limits; /* default limits of executions */
} psb__policy;

/*
 * Parses and validates a policy document (JSON text). Unknown keys and bad
 * values fail with PSB_EPOLICY and a message naming the key path
 * (e.g. "policy.imports.deny[2]"). On success *ret holds a normalized
 * document: every key present with defaults filled in.
 */
psb_status psb__policy_parse(const char *json_text, const char *name, psb__policy *ret,
                             psb_error *err);
/* Loads a preset by name, a policy file by path, or a document given inline ("{...}"). */
psb_status psb__policy_load(const char *name_or_path, psb__policy *ret, psb_error *err);
/* Releases what a policy holds. */
void psb__policy_clear(psb__policy *policy);
/* Copies a policy (deep). */
psb_status psb__policy_copy(const psb__policy *src, psb__policy *dst, psb_error *err);

/* The JSON text of a preset, or NULL when there is none of that name. */
const char *psb__preset_json(const char *name);

/* true if name is a valid dotted module name ("a.b_c"). */
bool psb__module_name_valid(const char *name);
/*
 * true if name is a valid module layer name: 1 to 64 ASCII letters, digits,
 * '_' and '-', starting with a letter or digit (so it is one path component
 * that is never hidden, "." or "..").
 */
bool psb__modlayer_name_valid(const char *name);
/* true if name is a valid environment variable name. */
bool psb__env_name_valid(const char *name);

/*
 * Import decision. rules is a JSON array of {"module": str, "allow": bool};
 * the longest rule matching the module or one of its parent packages wins,
 * deny wins a tie; with no match, default_allow decides.
 */
bool psb__import_allowed(const json_t *rules, bool default_allow, const char *module);

/* Confinement layers are psb_layer bits (public); psb_layer_name() names one. */
/* The layer of a name, or 0. */
unsigned psb__layer_find(const char *name);

#endif /* PSB_POLICY_POLICY_H */
