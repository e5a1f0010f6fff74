/*
 * tests/security/attack_spec.h - the header of an attack file and the
 * expectations it states, parsed strictly: an unknown key, a repeated key,
 * a malformed line or a header key below the header is an error, never
 * ignored. See attacks/README.md for the format.
 */
#ifndef PSB_TESTS_SECURITY_ATTACK_SPEC_H
#define PSB_TESTS_SECURITY_ATTACK_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPEC_LAYERS_ALL (-1) /* "all": the default configuration */
#define SPEC_MODE_WARM 1u
#define SPEC_MODE_COLD 2u
#define SPEC_MODE_EXTERNAL 4u /* the external-interpreter engine (Debian's python3.11) */
#define SPEC_MAX_LIBS 8
#define SPEC_MAX_EXPECT 96
#define SPEC_MAX_PATH 128

typedef enum spec_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_EXCLUDES } spec_op;

/* subject op value: `result.fork.errno = EPERM`, `count(result.open) = 4`. */
typedef struct spec_cmp {
    char path[SPEC_MAX_PATH]; /* "result.fork.errno"; '*' parts mean every member */
    bool count;               /* count(path): the number of members */
    spec_op op;
    json_t *value; /* owned */
} spec_cmp;

/* cmp and cmp and ... */
typedef struct spec_all {
    spec_cmp *cmps;
    size_t n;
} spec_all;

/* One `# expect:` line: all or all or ... */
typedef struct spec_expect {
    char *text; /* the condition as written */
    int line;   /* in the file, from 1 */
    spec_all *alts;
    size_t nalts;
} spec_expect;

typedef struct attack_spec {
    char *attack;   /* what the attack tries, one line */
    int layers;     /* SPEC_LAYERS_ALL or PSB_LAYER_* bits (0: "none") */
    unsigned modes; /* SPEC_MODE_* bits, default warm */
    bool bypass;    /* via: bypass (the Python layer removed from inside) */
    char libs[SPEC_MAX_LIBS][32];
    size_t nlibs;        /* lib: names of attacks/lib/NAME.py, prepended in order */
    bool need_root;      /* requires: root */
    int landlock_abi;    /* requires: landlock-abi>=N (0: no need) */
    bool no_sanitizer;   /* requires: no-sanitizer */
    uint64_t timeout_ms; /* 0: the runner's default */
    uint64_t cpu_s;      /* 0: the policy's */
    uint64_t memory_mib; /* 0: the policy's */
    spec_expect expects[SPEC_MAX_EXPECT];
    size_t nexpects;
    bool tcp_judged; /* an expectation names tcp_accepted */
} attack_spec;

/*
 * Parses the header of text (a whole attack file). lib_exists(name) says
 * whether a lib may be named. Returns 0, or -1 with a message naming the
 * line in err. On -1 the spec holds nothing to free.
 */
int spec_parse(const char *text, bool (*lib_exists)(const char *name), attack_spec *spec, char *err,
               size_t err_size);

void spec_free(attack_spec *spec);

/*
 * Parses one condition (the value of an `expect:` line). Returns 0, or -1
 * with why in err.
 */
int spec_parse_expect(const char *text, spec_expect *ret, char *err, size_t err_size);
void spec_expect_free(spec_expect *e);

/*
 * Evaluates e on view (the outcome as one JSON object: kind, type,
 * message, ..., result, stdout, ...). Returns true when it holds; else
 * writes the first failing comparison of each alternative and what was
 * found into why.
 */
bool spec_eval(const spec_expect *e, const json_t *view, char *why, size_t why_size);

#endif /* PSB_TESTS_SECURITY_ATTACK_SPEC_H */
