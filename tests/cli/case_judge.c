/*
 * tests/cli/case_judge.c - judges the checks of a case against what one run
 * of the CLI did, saying what was seen when a check does not hold.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cli/case.h"

/* Formats why and returns 0 (the check does not hold). */
__attribute__((format(printf, 3, 4))) static int no(char *why, size_t size, const char *fmt, ...) {
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return 0;
}

void cli_seen_init(struct cli_seen *s, const struct psb_cli_run *r) {
    json_error_t jerr;

    memset(s, 0, sizeof(*s));
    s->run = r;
    s->json = json_loadb(r->out, r->out_len, 0, &jerr);
    if (s->json == NULL) {
        snprintf(s->json_error, sizeof(s->json_error), "stdout is not JSON: %s", jerr.text);
    } else if (!json_is_object(s->json)) {
        json_decref(s->json);
        s->json = NULL;
        snprintf(s->json_error, sizeof(s->json_error), "stdout is not a JSON object");
    }
}

void cli_seen_free(struct cli_seen *s) {
    json_decref(s->json);
    memset(s, 0, sizeof(*s));
}

/* The value at path (checked by the loader) in root, or NULL. */
static json_t *resolve(json_t *root, const char *path) {
    json_t *v = root;
    const char *p = path;

    while (v != NULL && *p != '\0') {
        if (*p == '[') {
            char *end;
            unsigned long index = strtoul(p + 1, &end, 10);

            v = json_array_get(v, index); /* NULL unless an array that long */
            p = end + 1;
        } else {
            size_t n;

            if (*p == '.')
                p++;
            n = strcspn(p, ".[");
            v = json_is_object(v) ? json_object_getn(v, p, n) : NULL;
            p += n;
        }
    }
    return v;
}

/* A short JSON rendering of v for messages (free() it). */
static char *show(const json_t *v) {
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

    if (text != NULL && strlen(text) > 200)
        strcpy(text + 197, "...");
    return text;
}

/* The first bytes of data, quoted and escaped onto one line, in buf. */
static const char *excerpt(const char *data, size_t len, char *buf, size_t size) {
    size_t i, n = 0;

    buf[n++] = '"';
    for (i = 0; i < len && n + 8 < size; i++) {
        unsigned char ch = (unsigned char)data[i];

        if (ch == '\n' || ch == '"' || ch == '\\')
            n += (size_t)snprintf(buf + n, size - n, "\\%c", ch == '\n' ? 'n' : ch);
        else if (ch < 0x20 || ch >= 0x7f)
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    snprintf(buf + n, size - n, i < len ? "\"..." : "\"");
    return buf;
}

static int judge_bytes(const struct cli_check *k, const char *data, size_t len, char *why,
                       size_t size) {
    char seen[160];
    int found;

    switch (k->op) {
    case CLI_EQUALS:
        if (len == k->str_len && memcmp(data, k->str, len) == 0)
            return 1;
        return no(why, size, "it is %zu bytes: %s", len, excerpt(data, len, seen, sizeof(seen)));
    case CLI_CONTAINS:
    case CLI_LACKS:
        found = memmem(data, len, k->str, k->str_len) != NULL;
        if (found == (k->op == CLI_CONTAINS))
            return 1;
        return no(why, size, "%s in %zu bytes: %s", found ? "found" : "not found", len,
                  excerpt(data, len, seen, sizeof(seen)));
    case CLI_LENGTH:
        if ((long long)len == k->n)
            return 1;
        return no(why, size, "it is %zu bytes", len);
    default:
        return no(why, size, "no such operator for a stream");
    }
}

static int judge_outcome(const struct cli_check *k, const struct cli_seen *s, char *why,
                         size_t size) {
    const char *problem, *status;
    json_t *error;

    if (s->json == NULL)
        return no(why, size, "%s", s->json_error);
    problem = psb_cli_shape_problem(s->json);
    if (problem != NULL)
        return no(why, size, "not the shape of an outcome: %s", problem);
    status = json_string_value(json_object_get(s->json, "status"));
    error = json_object_get(s->json, "error");
    if (k->op == CLI_OK) {
        if (strcmp(status, "ok") == 0 && json_is_null(error))
            return 1;
        return no(why, size, "status %s, error kind %s", status,
                  json_is_object(error) ? json_string_value(json_object_get(error, "kind"))
                                        : "null");
    }
    if (strcmp(status, "error") == 0 && json_is_object(error) &&
        strcmp(json_string_value(json_object_get(error, "kind")), k->str) == 0)
        return 1;
    return no(why, size, "status %s, error kind %s", status,
              json_is_object(error) ? json_string_value(json_object_get(error, "kind")) : "null");
}

static int judge_json(const struct cli_check *k, const struct cli_seen *s, char *why, size_t size) {
    json_t *v;
    char *seen;
    int holds;

    if (s->json == NULL)
        return no(why, size, "%s", s->json_error);
    v = resolve(s->json, k->path);
    if (v == NULL)
        return no(why, size, "no value at %s", k->path);
    switch (k->op) {
    case CLI_EQUALS:
        holds = json_equal(v, k->value); /* 2 and 2.0 differ: integer and real */
        break;
    case CLI_CONTAINS:
        holds = json_is_string(v) &&
                memmem(json_string_value(v), json_string_length(v), k->str, k->str_len) != NULL;
        break;
    case CLI_LENGTH:
        holds = (json_is_string(v) && (long long)json_string_length(v) == k->n) ||
                (json_is_array(v) && (long long)json_array_size(v) == k->n);
        break;
    case CLI_GREATER:
        holds = json_is_integer(v) && json_integer_value(v) > k->n;
        break;
    default:
        holds = 0;
    }
    if (holds)
        return 1;
    seen = show(v);
    no(why, size, "%s is %s%s", k->path, seen != NULL ? seen : "?",
       k->op == CLI_LENGTH && json_is_string(v)
           ? " (a string, its length in bytes)"
           : (k->op == CLI_LENGTH && json_is_array(v) ? " (an array)" : ""));
    free(seen);
    return 0;
}

int cli_check_holds(const struct cli_check *k, const struct cli_seen *s, char *why,
                    size_t why_size) {
    switch (k->subject) {
    case CLI_EXIT:
        if (s->run->status == k->n)
            return 1;
        return no(why, why_size, "exit status %d", s->run->status);
    case CLI_OUTCOME:
        return judge_outcome(k, s, why, why_size);
    case CLI_STDOUT:
        return judge_bytes(k, s->run->out, s->run->out_len, why, why_size);
    case CLI_STDERR:
        return judge_bytes(k, s->run->err, s->run->err_len, why, why_size);
    case CLI_JSON:
        return judge_json(k, s, why, why_size);
    }
    return no(why, why_size, "unknown check");
}
