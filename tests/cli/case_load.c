/*
 * tests/cli/case_load.c - reads a case directory strictly: an unknown
 * entry, a line that is not one of the checks of README.md, or a check
 * that could never fail is an error naming the file and line, never a
 * check skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/cli/case.h"

#define CONTROL_MAX ((size_t)1 << 20) /* args, env, expect */
#define STDIN_MAX ((size_t)16 << 20)
#define LIST_MAX 256 /* lines of args or env, files in files/, checks */

/* Formats why and returns -1, so an error branch is one line. */
__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t size, const char *fmt,
                                                        ...) {
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return -1;
}

int cli_path(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

int cli_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, char *why,
                  size_t why_size) {
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = -1;

    if (fd < 0) {
        refuse(why, why_size, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        refuse(why, why_size, "%s: not a regular file", path);
        goto out;
    }
    if ((size_t)st.st_size > max) {
        refuse(why, why_size, "%s: larger than %zu bytes", path, max);
        goto out;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data == NULL) {
        refuse(why, why_size, "%s: out of memory", path);
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, data + len, (size_t)st.st_size - len);

        if (n <= 0) {
            refuse(why, why_size, "%s: %s", path, n < 0 ? strerror(errno) : "shrank while read");
            goto out;
        }
        len += (size_t)n;
    }
    data[len] = '\0';
    *ret_data = data;
    *ret_len = len;
    data = NULL;
    rc = 0;
out:
    free(data);
    if (fd >= 0)
        close(fd);
    return rc;
}

/*
 * Splits text into its lines, each of which must end with '\n' (so an
 * empty line is an empty line and a cut-off file is noticed), into a
 * NULL-terminated array of copies.
 */
static int split_lines(const char *name, const char *text, size_t len, char ***ret_lines,
                       size_t *ret_n, char *why, size_t size) {
    char **lines = calloc(LIST_MAX + 1, sizeof(*lines));
    size_t n = 0, start = 0, i;

    if (lines == NULL)
        return refuse(why, size, "%s: out of memory", name);
    if (len > 0 && text[len - 1] != '\n') {
        free(lines);
        return refuse(why, size, "%s: the last line does not end with a newline", name);
    }
    for (i = 0; i < len; i++) {
        if (text[i] == '\0' || text[i] == '\r') {
            for (n = 0; lines[n] != NULL; n++)
                free(lines[n]);
            free(lines);
            return refuse(why, size, "%s: a %s byte", name, text[i] ? "carriage return" : "NUL");
        }
        if (text[i] != '\n')
            continue;
        if (n == LIST_MAX || (lines[n] = strndup(text + start, i - start)) == NULL) {
            while (n > 0)
                free(lines[--n]);
            free(lines);
            return refuse(why, size, "%s: more than %d lines, or out of memory", name, LIST_MAX);
        }
        n++;
        start = i + 1;
    }
    *ret_lines = lines;
    *ret_n = n;
    return 0;
}

static void free_list(char **list) {
    size_t i;

    for (i = 0; list != NULL && list[i] != NULL; i++)
        free(list[i]);
    free(list);
}

/* 1 when name is an environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static int is_env_name(const char *name, size_t len) {
    size_t i;

    if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    for (i = 0; i < len; i++)
        if (!(name[i] == '_' || (name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9')))
            return 0;
    return 1;
}

/* A decimal integer in [min, max], all of s and nothing else. */
static int parse_number(const char *s, long long min, long long max, long long *ret) {
    long long v = 0;
    int neg = *s == '-';
    size_t i = neg ? 1 : 0, digits = 0;

    for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (digits == 18)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (digits == 0 || s[i] != '\0')
        return -1;
    v = neg ? -v : v;
    if (v < min || v > max)
        return -1;
    *ret = v;
    return 0;
}

/* A JSON string literal, all of s: its bytes into k->str. */
static int parse_string(const char *s, struct cli_check *k, int nonempty) {
    json_error_t jerr;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &jerr);

    if (!json_is_string(v) || (nonempty && json_string_length(v) == 0)) {
        json_decref(v);
        return -1;
    }
    k->str_len = json_string_length(v);
    k->str = malloc(k->str_len + 1);
    if (k->str != NULL)
        memcpy(k->str, json_string_value(v), k->str_len + 1);
    json_decref(v);
    return k->str != NULL ? 0 : -1;
}

/* A path of README.md: key, then .key or [index], any number of times. */
static int is_path(const char *p) {
    int want_key = 1;

    while (*p != '\0') {
        if (want_key) {
            size_t n = 0;

            while (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
                   (n > 0 && p[n] >= '0' && p[n] <= '9'))
                n++;
            if (n == 0)
                return 0;
            p += n;
            want_key = 0;
        } else if (*p == '.') {
            p++;
            want_key = 1;
        } else if (*p == '[') {
            size_t n = 1;

            while (p[n] >= '0' && p[n] <= '9')
                n++;
            if (n == 1 || p[n] != ']')
                return 0;
            p += n + 1;
        } else {
            return 0;
        }
    }
    return !want_key;
}

/* Cuts the next word off *p at a single space; NULL when there is none. */
static char *word(char **p) {
    char *w = *p, *space;

    if (w == NULL || *w == '\0' || *w == ' ')
        return NULL;
    space = strchr(w, ' ');
    if (space != NULL) {
        *space = '\0';
        *p = space + 1;
    } else {
        *p = NULL;
    }
    return w;
}

/* The operand of a stream or json check, after its operator. */
static int parse_operand(enum cli_op op, const char *rest, struct cli_check *k) {
    json_error_t jerr;

    if (rest == NULL)
        return -1;
    switch (op) {
    case CLI_EQUALS:
        if (k->subject != CLI_JSON)
            return parse_string(rest, k, 0);
        k->value = json_loads(rest, JSON_DECODE_ANY, &jerr);
        return k->value != NULL ? 0 : -1;
    case CLI_CONTAINS:
    case CLI_LACKS:
        return parse_string(rest, k, 1); /* "" is in everything: it could never fail */
    case CLI_LENGTH:
        return parse_number(rest, 0, (long long)1 << 40, &k->n);
    case CLI_GREATER:
        return parse_number(rest, -((long long)1 << 53), (long long)1 << 53, &k->n);
    default:
        return -1;
    }
}

/* What the operand of k must be, for a message. */
static const char *operand_name(const struct cli_check *k) {
    switch (k->op) {
    case CLI_LENGTH:
    case CLI_GREATER:
        return "an integer";
    case CLI_CONTAINS:
    case CLI_LACKS:
        return "a JSON string, not empty (\"\" is in everything)";
    default:
        return k->subject == CLI_JSON ? "a JSON value" : "a JSON string";
    }
}

/* Parses one line of expect (its copy in line, cut in place) into k. */
static int parse_check(char *line, struct cli_check *k, char *why, size_t size) {
    static const struct {
        const char *name;
        enum cli_op op;
        int streams, json; /* 1 when it applies to stdout and stderr, to json */
    } ops[] = {{"is", CLI_EQUALS, 1, 0},         {"=", CLI_EQUALS, 0, 1},
               {"contains", CLI_CONTAINS, 1, 1}, {"lacks", CLI_LACKS, 1, 0},
               {"length", CLI_LENGTH, 1, 1},     {">", CLI_GREATER, 0, 1}};
    char *rest = line, *subject = word(&rest), *op, *path = NULL;
    size_t i;

    if (subject == NULL)
        return refuse(why, size, "a line starting with a space");
    if (strcmp(subject, "exit") == 0) {
        k->subject = CLI_EXIT;
        k->op = CLI_EQUALS;
        if (rest == NULL || parse_number(rest, 0, 255, &k->n) != 0)
            return refuse(why, size, "exit needs a status from 0 to 255");
        return 0;
    }
    if (strcmp(subject, "outcome") == 0) {
        k->subject = CLI_OUTCOME;
        op = word(&rest);
        if (op != NULL && strcmp(op, "ok") == 0 && rest == NULL) {
            k->op = CLI_OK;
            return 0;
        }
        if (op != NULL && strcmp(op, "error") == 0 && rest != NULL && *rest != '\0' &&
            strspn(rest, "abcdefghijklmnopqrstuvwxyz_") == strlen(rest)) {
            k->op = CLI_ERROR;
            k->str_len = strlen(rest);
            k->str = strdup(rest);
            return k->str != NULL ? 0 : refuse(why, size, "out of memory");
        }
        return refuse(why, size, "outcome is 'ok' or 'error KIND'");
    }
    if (strcmp(subject, "stdout") == 0)
        k->subject = CLI_STDOUT;
    else if (strcmp(subject, "stderr") == 0)
        k->subject = CLI_STDERR;
    else if (strcmp(subject, "json") == 0)
        k->subject = CLI_JSON;
    else
        return refuse(why, size, "unknown check '%s' (exit, outcome, stdout, stderr, json)",
                      subject);
    if (k->subject == CLI_JSON) {
        path = word(&rest);
        if (path == NULL || !is_path(path))
            return refuse(why, size, "json needs a path such as files[0].name");
        k->path = strdup(path);
        if (k->path == NULL)
            return refuse(why, size, "out of memory");
    }
    op = word(&rest);
    for (i = 0; op != NULL && i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(op, ops[i].name) != 0 ||
            !(k->subject == CLI_JSON ? ops[i].json : ops[i].streams))
            continue;
        k->op = ops[i].op;
        if (parse_operand(k->op, rest, k) != 0)
            return refuse(why, size, "'%s %s' needs %s", subject, op, operand_name(k));
        return 0;
    }
    return refuse(why, size, "unknown operator '%s' for %s", op != NULL ? op : "", subject);
}

static void free_checks(struct cli_check *checks, size_t n) {
    size_t i;

    for (i = 0; i < n; i++) {
        free(checks[i].text);
        free(checks[i].path);
        free(checks[i].str);
        json_decref(checks[i].value);
    }
    free(checks);
}

/* Reads expect into c: every line a comment, blank, or a check. */
static int load_expect(const char *dir, struct cli_case *c, char *why, size_t size) {
    char path[4096], msg[256], *text = NULL, **lines = NULL;
    size_t len = 0, n = 0, i, exits = 0, outcomes = 0;
    int rc = -1;

    if (cli_path(path, sizeof(path), "%s/expect", dir) != 0) {
        refuse(why, size, "%s: path too long", dir);
        goto out;
    }
    if (cli_read_file(path, CONTROL_MAX, &text, &len, why, size) != 0)
        goto out;
    if (split_lines("expect", text, len, &lines, &n, why, size) != 0)
        goto out;
    c->checks = calloc(n > 0 ? n : 1, sizeof(*c->checks));
    if (c->checks == NULL) {
        refuse(why, size, "expect: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        struct cli_check *k = &c->checks[c->n_checks];

        if (lines[i][0] == '\0' || lines[i][0] == '#')
            continue;
        k->line = (unsigned)i + 1;
        k->text = strdup(lines[i]);
        c->n_checks++;
        if (k->text == NULL || parse_check(lines[i], k, msg, sizeof(msg)) != 0) {
            refuse(why, size, "expect:%zu: %s: %s", i + 1, msg, k->text ? k->text : "");
            goto out;
        }
        exits += k->subject == CLI_EXIT;
        outcomes += k->subject == CLI_OUTCOME;
    }
    if (exits != 1) {
        refuse(why, size, "expect: %s 'exit N' line", exits ? "more than one" : "no");
        goto out;
    }
    if (outcomes > 1) {
        refuse(why, size, "expect: more than one 'outcome' line");
        goto out;
    }
    rc = 0;
out:
    free(text);
    free_list(lines);
    return rc;
}

/* Reads env: NAME=VALUE lines, each name once. */
static int load_env(const char *path, struct cli_case *c, char *why, size_t size) {
    char *text = NULL;
    size_t len = 0, n = 0, i, j;
    int rc = -1;

    if (cli_read_file(path, CONTROL_MAX, &text, &len, why, size) != 0)
        goto out;
    if (split_lines("env", text, len, &c->env, &n, why, size) != 0)
        goto out;
    if (n == 0) {
        refuse(why, size, "env: empty; leave the file out");
        goto out;
    }
    for (i = 0; i < n; i++) {
        size_t name_len = strcspn(c->env[i], "=");

        if (c->env[i][name_len] != '=' || !is_env_name(c->env[i], name_len)) {
            refuse(why, size, "env:%zu: not NAME=VALUE: %s", i + 1, c->env[i]);
            goto out;
        }
        for (j = 0; j < i; j++)
            if (strncmp(c->env[j], c->env[i], name_len + 1) == 0) {
                refuse(why, size, "env:%zu: %.*s set twice", i + 1, (int)name_len, c->env[i]);
                goto out;
            }
    }
    rc = 0;
out:
    free(text);
    return rc;
}

/* Lists files/: regular files only, none hidden, at least one. */
static int load_files(const char *path, struct cli_case *c, char *why, size_t size) {
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort), i, rc = -1;
    size_t kept = 0;

    if (n < 0)
        return refuse(why, size, "files/: %s", strerror(errno));
    c->files = calloc((size_t)n + 1, sizeof(*c->files));
    if (c->files == NULL) {
        refuse(why, size, "files/: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        char entry[4096];
        struct stat st;

        if (strcmp(names[i]->d_name, ".") == 0 || strcmp(names[i]->d_name, "..") == 0)
            continue;
        if (names[i]->d_name[0] == '.' ||
            cli_path(entry, sizeof(entry), "%s/%s", path, names[i]->d_name) != 0 ||
            lstat(entry, &st) != 0 || !S_ISREG(st.st_mode)) {
            refuse(why, size, "files/%s: not a regular, visible file", names[i]->d_name);
            goto out;
        }
        if ((c->files[kept++] = strdup(names[i]->d_name)) == NULL) {
            refuse(why, size, "files/: out of memory");
            goto out;
        }
    }
    if (kept == 0) {
        refuse(why, size, "files/: empty; leave the directory out");
        goto out;
    }
    rc = 0;
out:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Reads args: one argument per line. */
static int load_args(const char *path, struct cli_case *c, char *why, size_t size) {
    char *text = NULL;
    size_t len = 0, n = 0;
    int rc;

    if (cli_read_file(path, CONTROL_MAX, &text, &len, why, size) != 0)
        return -1;
    rc = split_lines("args", text, len, &c->args, &n, why, size);
    free(text);
    return rc;
}

int cli_case_load(const char *dir, struct cli_case *c, char *why, size_t why_size) {
    struct dirent **names = NULL;
    int n, i, rc = -1, has_args = 0, has_expect = 0;

    memset(c, 0, sizeof(*c));
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return refuse(why, why_size, "%s: %s", dir, strerror(errno));
    for (i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[4096];

        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (cli_path(path, sizeof(path), "%s/%s", dir, name) != 0) {
            refuse(why, why_size, "%s/%s: path too long", dir, name);
            goto out;
        }
        if (strcmp(name, "args") == 0) {
            has_args = 1;
            if (load_args(path, c, why, why_size) != 0)
                goto out;
        } else if (strcmp(name, "expect") == 0) {
            has_expect = 1;
            if (load_expect(dir, c, why, why_size) != 0)
                goto out;
        } else if (strcmp(name, "stdin") == 0) {
            if (cli_read_file(path, STDIN_MAX, &c->in, &c->in_len, why, why_size) != 0)
                goto out;
            if (c->in_len == 0) {
                refuse(why, why_size, "stdin: empty; leave the file out");
                goto out;
            }
        } else if (strcmp(name, "env") == 0) {
            if (load_env(path, c, why, why_size) != 0)
                goto out;
        } else if (strcmp(name, "files") == 0) {
            if (load_files(path, c, why, why_size) != 0)
                goto out;
        } else {
            refuse(why, why_size,
                   "unknown entry '%s' (a case holds args, expect, and maybe stdin, env, files/)",
                   name);
            goto out;
        }
    }
    if (!has_args || !has_expect) {
        refuse(why, why_size, "no %s file", has_args ? "expect" : "args");
        goto out;
    }
    rc = 0;
out:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc != 0)
        cli_case_free(c);
    return rc;
}

void cli_case_free(struct cli_case *c) {
    free_list(c->args);
    free(c->in);
    free_list(c->env);
    free_list(c->files);
    free_checks(c->checks, c->n_checks);
    memset(c, 0, sizeof(*c));
}

int cli_case_copy_files(const char *dir, const struct cli_case *c, const char *to, char *why,
                        size_t why_size) {
    size_t i;

    for (i = 0; c->files != NULL && c->files[i] != NULL; i++) {
        char from[4096], dest[4096], *data = NULL;
        size_t len = 0;
        FILE *f;
        int ok;

        if (cli_path(from, sizeof(from), "%s/files/%s", dir, c->files[i]) != 0 ||
            cli_path(dest, sizeof(dest), "%s/%s", to, c->files[i]) != 0)
            return refuse(why, why_size, "%s: path too long", c->files[i]);
        if (cli_read_file(from, STDIN_MAX, &data, &len, why, why_size) != 0)
            return -1;
        f = fopen(dest, "wbx");
        ok = f != NULL && fwrite(data, 1, len, f) == len;
        ok = (f != NULL && fclose(f) == 0) && ok;
        free(data);
        if (!ok)
            return refuse(why, why_size, "%s: cannot write", dest);
    }
    return 0;
}
