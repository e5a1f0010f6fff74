/*
 * tests/cli/case.h - one data-driven case of the pysandbox CLI: a directory
 * tests/cli/cases/<group>/<name>/ read strictly into a struct cli_case, and
 * the checks of its expect file judged against a run. The format is in
 * tests/cli/README.md.
 */
#ifndef PSB_TESTS_CLI_CASE_H
#define PSB_TESTS_CLI_CASE_H

#include <jansson.h>
#include <stddef.h>

#include "tests/suite.h"

/* What a check looks at. */
enum cli_subject {
    CLI_EXIT,    /* the exit status */
    CLI_OUTCOME, /* stdout as a `run --json` outcome */
    CLI_STDOUT,  /* the bytes of stdout */
    CLI_STDERR,  /* the bytes of stderr */
    CLI_JSON,    /* a value inside stdout parsed as a JSON object */
};

/* How it judges what it looks at. */
enum cli_op {
    CLI_EQUALS,   /* exit N, stdout is S, json PATH = VALUE */
    CLI_CONTAINS, /* S occurs in it */
    CLI_LACKS,    /* S does not occur in it */
    CLI_LENGTH,   /* it has N bytes (a stream or string) or N elements (an array) */
    CLI_GREATER,  /* the integer is greater than N */
    CLI_OK,       /* outcome ok */
    CLI_ERROR,    /* outcome error KIND */
};

struct cli_check {
    unsigned line; /* its line in expect, from 1 */
    char *text;    /* the line as written, for messages */
    enum cli_subject subject;
    enum cli_op op;
    char *path;     /* CLI_JSON: the path, e.g. files[0].name */
    json_t *value;  /* json PATH = VALUE: the expected value */
    char *str;      /* is, contains, lacks: the bytes; outcome error: the kind */
    size_t str_len; /* bytes in str */
    long long n;    /* exit, length, >: the number */
};

struct cli_case {
    char **args; /* the CLI's arguments after argv[0], NULL-terminated */
    char *in;    /* stdin bytes, or NULL when the case has none */
    size_t in_len;
    char **env;   /* NAME=VALUE lines of env, NULL-terminated; NULL without env */
    char **files; /* names of the files in files/, NULL-terminated; NULL without */
    struct cli_check *checks;
    size_t n_checks;
};

/*
 * Reads the case in dir into c. Anything the format does not define, or
 * defines otherwise, is an error: 0, or -1 with why ("expect:3: ...") and
 * c freed.
 */
int cli_case_load(const char *dir, struct cli_case *c, char *why, size_t why_size);

/* Frees what cli_case_load() allocated; a zeroed c is a no-op. */
void cli_case_free(struct cli_case *c);

/* Copies dir/files/ of c into the directory to; 0, or -1 with why. */
int cli_case_copy_files(const char *dir, const struct cli_case *c, const char *to, char *why,
                        size_t why_size);

/* Formats a path into buf: 0, or -1 when it does not fit. */
__attribute__((format(printf, 3, 4))) int cli_path(char *buf, size_t size, const char *fmt, ...);

/*
 * Reads the regular file path (at most max bytes) into a NUL-terminated
 * buffer the caller frees: 0, or -1 with why.
 */
int cli_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, char *why,
                  size_t why_size);

/* What a run showed: the run, and its stdout parsed once as a JSON object. */
struct cli_seen {
    const struct psb_cli_run *run;
    json_t *json;         /* stdout as one JSON object, or NULL */
    char json_error[200]; /* why json is NULL */
};

void cli_seen_init(struct cli_seen *s, const struct psb_cli_run *r);
void cli_seen_free(struct cli_seen *s);

/* 1 when k holds for s; 0 with why (what was seen instead). */
int cli_check_holds(const struct cli_check *k, const struct cli_seen *s, char *why,
                    size_t why_size);

#endif /* PSB_TESTS_CLI_CASE_H */
