/*
 * attack_spec.c - parses the `# key: value` header of an attack file and
 * evaluates its `expect:` conditions on the outcome, seen as one JSON
 * object. Everything unknown or malformed is an error with its line.
 */
#include "tests/security/attack_spec.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/pysandbox.h"

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t size, const char *fmt,
                                                      ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- subjects -------------------------------------------------------------- */

/* What a condition may look at: a member of the outcome's view. */
static const struct {
    const char *name;
    bool container; /* may be followed by .member parts */
} subjects[] = {
    {"kind", false},
    {"type", false},
    {"message", false},
    {"traceback", false},
    {"module", false},
    {"event", false},
    {"result", true},
    {"result_json", false},
    {"outcome", false},
    {"stdout", false},
    {"stderr", false},
    {"stdout_bytes", false},
    {"stderr_bytes", false},
    {"stdout_truncated", false},
    {"stderr_truncated", false},
    {"figures", true},
    {"files", true},
    {"stats", true},
    {"wall_ms", false},
    {"tcp_accepted", false},
};

/* Checks a subject path ("result.a.*.b"); 0 or -1 with why. */
static int check_path(const char *path, char *err, size_t size) {
    size_t root_len = strcspn(path, ".");
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        if (strlen(subjects[i].name) != root_len || strncmp(subjects[i].name, path, root_len) != 0)
            continue;
        if (path[root_len] && !subjects[i].container)
            return fail(err, size, "'%s' has no members", subjects[i].name);
        for (const char *p = path + root_len; *p;) {
            p++; /* the '.' */
            size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            if (n == 0 && *p == '*')
                n = 1;
            else if (n == 0)
                return fail(err, size, "empty or invalid member in '%s'", path);
            p += n;
            if (*p && *p != '.')
                return fail(err, size, "invalid character '%c' in '%s'", *p, path);
        }
        return 0;
    }
    return fail(err, size, "unknown subject '%.*s'", (int)root_len, path);
}

/* ---- conditions ------------------------------------------------------------ */

static const char *skip_spaces(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* true if p starts with the word w followed by a space or the end. */
static bool word_at(const char *p, const char *w) {
    size_t n = strlen(w);
    return !strncmp(p, w, n) && (p[n] == '\0' || p[n] == ' ' || p[n] == '\t');
}

static bool bare_char(char c) {
    return isalnum((unsigned char)c) || (c && strchr("_.:/+-", c));
}

/* A value: JSON (string, number, array, object, true/false/null) or a bare word string. */
static const char *parse_value(const char *p, json_t **ret, char *err, size_t size) {
    if (*p == '"' || *p == '[' || *p == '{' || *p == '-' || isdigit((unsigned char)*p) ||
        word_at(p, "true") || word_at(p, "false") || word_at(p, "null")) {
        json_error_t je;
        json_t *v = json_loadb(p, strlen(p),
                               JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
        if (!v) {
            fail(err, size, "bad JSON value at '%.40s': %s", p, je.text);
            return NULL;
        }
        p += je.position;
        if (*p && *p != ' ' && *p != '\t') {
            json_decref(v);
            fail(err, size, "junk after a JSON value: '%.40s'", p);
            return NULL;
        }
        *ret = v;
        return p;
    }
    if (!isalpha((unsigned char)*p) && *p != '_') {
        fail(err, size, "expected a value at '%.40s'", p);
        return NULL;
    }
    const char *start = p;
    while (bare_char(*p))
        p++;
    if (*p && *p != ' ' && *p != '\t') {
        fail(err, size, "invalid character '%c' in the bare word '%.*s' (quote it)", *p,
             (int)(p - start + 1), start);
        return NULL;
    }
    size_t n = (size_t)(p - start);
    static const char *const reserved[] = {"and", "or", "contains", "excludes", "count"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (n == strlen(reserved[i]) && !strncmp(start, reserved[i], n)) {
            fail(err, size, "'%s' where a value was expected (quote it)", reserved[i]);
            return NULL;
        }
    *ret = json_stringn(start, n);
    return p;
}

static const char *parse_cmp(const char *p, spec_cmp *c, char *err, size_t size) {
    memset(c, 0, sizeof *c);
    const char *start = p;
    if (!strncmp(p, "count(", 6)) {
        c->count = true;
        p += 6;
        start = p;
        while (*p && *p != ')' && *p != ' ')
            p++;
        if (*p != ')') {
            fail(err, size, "count( without its ')'");
            return NULL;
        }
    } else {
        while (*p && *p != ' ' && *p != '\t' && !strchr("=!<>", *p))
            p++;
    }
    size_t n = (size_t)(p - start);
    if (n == 0 || n >= sizeof c->path) {
        fail(err, size, "expected a subject at '%.40s'", start);
        return NULL;
    }
    memcpy(c->path, start, n);
    c->path[n] = '\0';
    if (check_path(c->path, err, size) != 0)
        return NULL;
    if (c->count && strchr(c->path, '*')) {
        fail(err, size, "count() of a '*' path");
        return NULL;
    }
    if (c->count)
        p++;
    p = skip_spaces(p);
    static const struct {
        const char *text;
        spec_op op;
    } ops[] = {{"!=", OP_NE},
               {"<=", OP_LE},
               {">=", OP_GE},
               {"=", OP_EQ},
               {"<", OP_LT},
               {">", OP_GT},
               {"contains", OP_CONTAINS},
               {"excludes", OP_EXCLUDES}};
    size_t k;
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (!strncmp(p, ops[k].text, strlen(ops[k].text)))
            break;
    if (k == sizeof ops / sizeof ops[0]) {
        fail(err, size, "expected an operator (= != < <= > >= contains excludes) after '%s'",
             c->path);
        return NULL;
    }
    c->op = ops[k].op;
    p += strlen(ops[k].text);
    if (*p != ' ') {
        fail(err, size, "expected a space after the operator '%s'", ops[k].text);
        return NULL;
    }
    p = parse_value(skip_spaces(p), &c->value, err, size);
    if (!p)
        return NULL;
    bool numeric = c->op == OP_LT || c->op == OP_LE || c->op == OP_GT || c->op == OP_GE;
    if (numeric && !json_is_number(c->value)) {
        json_decref(c->value);
        c->value = NULL;
        fail(err, size, "'%s' compares with a number", ops[k].text);
        return NULL;
    }
    if ((c->op == OP_CONTAINS || c->op == OP_EXCLUDES) && !json_is_string(c->value)) {
        json_decref(c->value);
        c->value = NULL;
        fail(err, size, "'%s' takes a string", ops[k].text);
        return NULL;
    }
    return p;
}

void spec_expect_free(spec_expect *e) {
    for (size_t a = 0; a < e->nalts; a++) {
        for (size_t i = 0; i < e->alts[a].n; i++)
            json_decref(e->alts[a].cmps[i].value);
        free(e->alts[a].cmps);
    }
    free(e->alts);
    free(e->text);
    memset(e, 0, sizeof *e);
}

static void *grow(void *v, size_t n, size_t elem) {
    void *g = realloc(v, (n + 1) * elem);
    if (!g)
        abort(); /* a test helper out of memory */
    return g;
}

int spec_parse_expect(const char *text, spec_expect *e, char *err, size_t size) {
    memset(e, 0, sizeof *e);
    e->text = strdup(text);
    e->alts = grow(NULL, 0, sizeof *e->alts);
    memset(&e->alts[0], 0, sizeof e->alts[0]);
    e->nalts = 1;
    const char *p = skip_spaces(text);
    for (;;) {
        spec_all *all = &e->alts[e->nalts - 1];
        all->cmps = grow(all->cmps, all->n, sizeof *all->cmps);
        p = parse_cmp(p, &all->cmps[all->n], err, size);
        if (!p)
            goto fail;
        all->n++;
        p = skip_spaces(p);
        if (!*p)
            return 0;
        if (word_at(p, "and")) {
            p = skip_spaces(p + 3);
        } else if (word_at(p, "or")) {
            p = skip_spaces(p + 2);
            e->alts = grow(e->alts, e->nalts, sizeof *e->alts);
            memset(&e->alts[e->nalts++], 0, sizeof *e->alts);
        } else {
            fail(err, size, "expected 'and', 'or' or the end at '%.40s'", p);
            goto fail;
        }
        if (!*p) {
            fail(err, size, "a condition ends with 'and' or 'or'");
            goto fail;
        }
    }
fail:
    spec_expect_free(e);
    return -1;
}

/* ---- evaluation -------------------------------------------------------------- */

/* Every value path names in view (a '*' part expands to every member); how many. */
static size_t resolve(const json_t *view, const char *path, const json_t **out, size_t max,
                      const char **missing) {
    char part[SPEC_MAX_PATH];
    size_t n = strcspn(path, ".");
    memcpy(part, path, n);
    part[n] = '\0';
    const char *rest = path[n] ? path + n + 1 : NULL;
    const json_t *v = NULL;
    if (json_is_object(view)) {
        v = json_object_get(view, part);
    } else if (json_is_array(view)) {
        char *end;
        unsigned long idx = strtoul(part, &end, 10);
        if (*part && !*end)
            v = json_array_get(view, idx);
    }
    if (!strcmp(part, "*") && (json_is_object(view) || json_is_array(view))) {
        size_t k = 0;
        if (json_is_array(view)) {
            size_t i;
            json_t *m;
            json_array_foreach(view, i, m) {
                k += rest ? resolve(m, rest, out + k, max - k, missing)
                          : (k < max ? (out[k] = m, 1u) : 0u);
            }
        } else {
            const char *key;
            json_t *m;
            json_object_foreach((json_t *)view, key, m) {
                k += rest ? resolve(m, rest, out + k, max - k, missing)
                          : (k < max ? (out[k] = m, 1u) : 0u);
            }
        }
        if (k == 0 && !*missing)
            *missing = "no members";
        return k;
    }
    if (!v) {
        if (!*missing)
            *missing = "no such member";
        return 0;
    }
    if (rest)
        return resolve(v, rest, out, max, missing);
    if (max == 0)
        return 0;
    out[0] = v;
    return 1;
}

static bool equal(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b) &&
               (!json_is_integer(a) || !json_is_integer(b) ||
                json_integer_value(a) == json_integer_value(b));
    return json_equal((json_t *)a, (json_t *)b);
}

static bool holds(const spec_cmp *c, const json_t *v, const char **why) {
    switch (c->op) {
    case OP_EQ:
        return equal(v, c->value);
    case OP_NE:
        return !equal(v, c->value);
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: {
        if (!json_is_number(v))
            return *why = "not a number", false;
        double x = json_number_value(v), y = json_number_value(c->value);
        return c->op == OP_LT ? x < y : c->op == OP_LE ? x <= y : c->op == OP_GT ? x > y : x >= y;
    }
    case OP_CONTAINS:
    case OP_EXCLUDES: {
        if (!json_is_string(v))
            return *why = "not a string", false;
        bool in = memmem(json_string_value(v), json_string_length(v), json_string_value(c->value),
                         json_string_length(c->value)) != NULL;
        return c->op == OP_CONTAINS ? in : !in;
    }
    }
    return false;
}

/* Appends a short, printable rendering of v. */
static void render(char *buf, size_t size, const json_t *v) {
    size_t used = strlen(buf);
    if (used + 1 >= size)
        return;
    if (json_is_string(v)) {
        /* Strings of the view may hold any byte: show them escaped, cut. */
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), o = used;
        buf[o++] = '"';
        for (size_t i = 0; i < len && o + 6 < size && i < 300; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
                buf[o++] = (char)ch;
            else
                o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        }
        if (len > 300 && o + 4 < size)
            o += (size_t)snprintf(buf + o, size - o, "...");
        if (o + 1 < size)
            buf[o++] = '"';
        buf[o < size ? o : size - 1] = '\0';
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf + used, size - used, "%.300s%s", text ? text : "?",
             text && strlen(text) > 300 ? "..." : "");
    free(text);
}

/* Whether c holds on view; if not, appends why to buf. */
static bool eval_cmp(const spec_cmp *c, const json_t *view, char *buf, size_t size) {
    const json_t *vals[512];
    const char *missing = NULL, *why = NULL;
    size_t n = resolve(view, c->path, vals, 512, &missing);
    json_t *count = NULL;
    if (c->count && n == 1) {
        if (json_is_array(vals[0]))
            count = json_integer((json_int_t)json_array_size(vals[0]));
        else if (json_is_object(vals[0]))
            count = json_integer((json_int_t)json_object_size(vals[0]));
        else
            missing = "not an array or object";
        n = count ? 1 : 0;
        vals[0] = count;
    }
    bool ok = n > 0;
    size_t bad = 0;
    for (size_t i = 0; ok && i < n; i++)
        if (!holds(c, vals[i], &why)) {
            ok = false;
            bad = i;
        }
    size_t used = strlen(buf);
    if (!ok && n == 0)
        snprintf(buf + used, size - used, "%s%s%s: %s", c->count ? "count(" : "", c->path,
                 c->count ? ")" : "", missing ? missing : "nothing");
    else if (!ok) {
        snprintf(buf + used, size - used, "%s%s%s%s is ", c->count ? "count(" : "", c->path,
                 c->count ? ")" : "", n > 1 ? " (one of them)" : "");
        render(buf, size, vals[bad]);
        if (why) {
            used = strlen(buf);
            snprintf(buf + used, size - used, " (%s)", why);
        }
    }
    json_decref(count);
    return ok;
}

bool spec_eval(const spec_expect *e, const json_t *view, char *why, size_t size) {
    why[0] = '\0';
    for (size_t a = 0; a < e->nalts; a++) {
        bool all = true;
        size_t mark = strlen(why);
        if (mark)
            snprintf(why + mark, size - mark, "; or: ");
        for (size_t i = 0; all && i < e->alts[a].n; i++)
            all = eval_cmp(&e->alts[a].cmps[i], view, why, size);
        if (all) {
            why[0] = '\0';
            return true;
        }
    }
    return false;
}

/* ---- the header ---------------------------------------------------------------- */

static const char *const keys[] = {"attack",   "layers",     "mode",  "via",        "lib",
                                   "requires", "timeout_ms", "cpu_s", "memory_mib", "expect"};
#define NKEYS (sizeof keys / sizeof keys[0])
#define KEY_EXPECT (NKEYS - 1)

/* The key of a `# key: value` line (its index), -1 if the line is not one. */
static int header_key(const char *line, size_t len, const char **value, size_t *vlen) {
    if (len < 2 || line[0] != '#' || line[1] != ' ')
        return -1;
    const char *k = line + 2;
    size_t klen = strspn(k, "abcdefghijklmnopqrstuvwxyz_");
    if (klen == 0 || k + klen + 1 >= line + len || k[klen] != ':' || k[klen + 1] != ' ')
        return -1;
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i]) == klen && !strncmp(keys[i], k, klen)) {
            *value = k + klen + 2;
            *vlen = len - (size_t)(*value - line);
            return (int)i;
        }
    return -2; /* shaped like a key, but unknown */
}

/* A comment line below the header that names a header key ("#  expect: ..."), or -1. */
static int body_key(const char *line, size_t len) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len || line[i] != '#')
        return -1;
    while (++i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '#'))
        ;
    for (size_t k = 0; k < NKEYS; k++) {
        size_t n = strlen(keys[k]);
        if (i + n < len && !strncmp(line + i, keys[k], n) && line[i + n] == ':')
            return (int)k;
    }
    return -1;
}

/* Splits value into words; calls f on each; stops at the first error. */
static int words(const char *value, int (*f)(attack_spec *, const char *, char *, size_t),
                 attack_spec *s, char *err, size_t size) {
    char buf[1024], *save = NULL;
    snprintf(buf, sizeof buf, "%s", value);
    int n = 0;
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save), n++)
        if (f(s, w, err, size) != 0)
            return -1;
    return n ? 0 : fail(err, size, "no value");
}

/* "all", "none" or layer names ("seccomp landlock"). */
static int parse_layers(const char *value, int *ret, char *err, size_t size) {
    char buf[1024], *save = NULL;
    int layers = 0, n = 0;
    snprintf(buf, sizeof buf, "%s", value);
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save), n++) {
        if (!strcmp(w, "all") || !strcmp(w, "none")) {
            if (strcmp(value, w) != 0)
                return fail(err, size, "'%s' stands alone", w);
            *ret = !strcmp(w, "all") ? SPEC_LAYERS_ALL : 0;
            return 0;
        }
        unsigned bit;
        for (bit = 1; bit & PSB_LAYERS_ALL; bit <<= 1)
            if (psb_layer_name(bit) && !strcmp(psb_layer_name(bit), w))
                break;
        if (!(bit & PSB_LAYERS_ALL))
            return fail(err, size,
                        "unknown layer '%s' (all, none, seccomp, landlock, namespaces, "
                        "unprivileged, hooks)",
                        w);
        if (layers & (int)bit)
            return fail(err, size, "layer '%s' twice", w);
        layers |= (int)bit;
    }
    if (n == 0)
        return fail(err, size, "no value");
    *ret = layers;
    return 0;
}

static int mode_word(attack_spec *s, const char *w, char *err, size_t size) {
    unsigned m = !strcmp(w, "warm")       ? SPEC_MODE_WARM
                 : !strcmp(w, "cold")     ? SPEC_MODE_COLD
                 : !strcmp(w, "external") ? SPEC_MODE_EXTERNAL
                                          : 0;
    if (!m)
        return fail(err, size, "unknown mode '%s' (warm, cold, external)", w);
    if (s->modes & m)
        return fail(err, size, "mode '%s' twice", w);
    s->modes |= m;
    return 0;
}

static bool (*lib_check)(const char *name);

static int lib_word(attack_spec *s, const char *w, char *err, size_t size) {
    if (strspn(w, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(w) || strlen(w) >= 32)
        return fail(err, size, "bad lib name '%s'", w);
    for (size_t i = 0; i < s->nlibs; i++)
        if (!strcmp(s->libs[i], w))
            return fail(err, size, "lib '%s' twice", w);
    if (s->nlibs == SPEC_MAX_LIBS)
        return fail(err, size, "more than %d libs", SPEC_MAX_LIBS);
    if (!lib_check(w))
        return fail(err, size, "no lib named '%s' (attacks/lib/%s.py)", w, w);
    snprintf(s->libs[s->nlibs++], sizeof s->libs[0], "%s", w);
    return 0;
}

static int require_word(attack_spec *s, const char *w, char *err, size_t size) {
    int abi;
    char end;
    if (!strcmp(w, "root")) {
        if (s->need_root)
            return fail(err, size, "'root' twice");
        s->need_root = true;
        return 0;
    }
    if (sscanf(w, "landlock-abi>=%d%c", &abi, &end) == 1 && abi >= 1 && abi <= 64) {
        if (s->landlock_abi)
            return fail(err, size, "landlock-abi twice");
        s->landlock_abi = abi;
        return 0;
    }
    if (!strcmp(w, "no-sanitizer")) {
        if (s->no_sanitizer)
            return fail(err, size, "'no-sanitizer' twice");
        s->no_sanitizer = true;
        return 0;
    }
    return fail(err, size, "unknown requirement '%s' (root, landlock-abi>=N, no-sanitizer)", w);
}

static int number(const char *v, uint64_t max, uint64_t *ret, char *err, size_t size) {
    char *end;
    if (!isdigit((unsigned char)v[0]))
        return fail(err, size, "'%s' is not a number", v);
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno || n == 0 || n > max)
        return fail(err, size, "'%s' is not a number in 1..%llu", v, (unsigned long long)max);
    *ret = n;
    return 0;
}

void spec_free(attack_spec *s) {
    free(s->attack);
    for (size_t i = 0; i < s->nexpects; i++)
        spec_expect_free(&s->expects[i]);
    memset(s, 0, sizeof *s);
}

int spec_parse(const char *text, bool (*lib_exists)(const char *), attack_spec *s, char *err,
               size_t size) {
    char msg[400], value[1024];
    bool seen[NKEYS] = {false};
    int line = 0, header_end = 0;
    const char *p = text;
    memset(s, 0, sizeof *s);
    lib_check = lib_exists;
    bool in_header = true, has_code = false;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *v = NULL;
        size_t vlen = 0;
        line++;
        if (in_header && (len == 0 || p[0] != '#')) {
            in_header = false;
            header_end = line;
        }
        int k = header_key(p, len, &v, &vlen);
        if (!in_header) {
            /* Below the header a `# expect:` would silently not count. */
            int bk = body_key(p, len);
            if (bk >= 0) {
                fail(err, size,
                     "line %d: the header key '%s' is below the header (it ends at line %d)", line,
                     keys[bk], header_end);
                goto fail;
            }
            if (p[0] != '#')
                for (size_t i = 0; i < len && !has_code; i++)
                    has_code = p[i] != ' ' && p[i] != '\t' && p[i] != '\r';
        } else if (k == -1) {
            fail(err, size, "line %d: not a '# key: value' line: '%.*s'", line, (int)len, p);
            goto fail;
        } else if (k == -2) {
            fail(err, size, "line %d: unknown header key in '%.*s'", line, (int)len, p);
            goto fail;
        } else {
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t' || v[vlen - 1] == '\r'))
                vlen--;
            if (vlen == 0 || vlen >= sizeof value || v[0] == ' ') {
                fail(err, size, "line %d: '%s' needs one value after ': '", line, keys[k]);
                goto fail;
            }
            memcpy(value, v, vlen);
            value[vlen] = '\0';
            if (seen[k] && (size_t)k != KEY_EXPECT) {
                fail(err, size, "line %d: '%s' given twice", line, keys[k]);
                goto fail;
            }
            seen[k] = true;
            int rc = 0;
            const char *key = keys[k];
            if (!strcmp(key, "attack")) {
                s->attack = strdup(value);
            } else if (!strcmp(key, "layers")) {
                rc = parse_layers(value, &s->layers, msg, sizeof msg);
            } else if (!strcmp(key, "mode")) {
                rc = words(value, mode_word, s, msg, sizeof msg);
            } else if (!strcmp(key, "via")) {
                if (!strcmp(value, "bypass"))
                    s->bypass = true;
                else if (strcmp(value, "code") != 0)
                    rc = fail(msg, sizeof msg, "unknown via '%s' (code, bypass)", value);
            } else if (!strcmp(key, "lib")) {
                rc = words(value, lib_word, s, msg, sizeof msg);
            } else if (!strcmp(key, "requires")) {
                rc = words(value, require_word, s, msg, sizeof msg);
            } else if (!strcmp(key, "timeout_ms")) {
                rc = number(value, 24ull * 3600 * 1000, &s->timeout_ms, msg, sizeof msg);
            } else if (!strcmp(key, "cpu_s")) {
                rc = number(value, 86400, &s->cpu_s, msg, sizeof msg);
            } else if (!strcmp(key, "memory_mib")) {
                rc = number(value, 1u << 20, &s->memory_mib, msg, sizeof msg);
            } else { /* expect */
                if (s->nexpects == SPEC_MAX_EXPECT) {
                    rc = fail(msg, sizeof msg, "more than %d expectations", SPEC_MAX_EXPECT);
                } else {
                    rc = spec_parse_expect(value, &s->expects[s->nexpects], msg, sizeof msg);
                    if (rc == 0) {
                        spec_expect *e = &s->expects[s->nexpects++];
                        e->line = line;
                        for (size_t a = 0; a < e->nalts; a++)
                            for (size_t i = 0; i < e->alts[a].n; i++)
                                s->tcp_judged |= !strcmp(e->alts[a].cmps[i].path, "tcp_accepted");
                    }
                }
            }
            if (rc != 0) {
                fail(err, size, "line %d: %s: %s", line, key, msg);
                goto fail;
            }
        }
        p += len + (nl ? 1 : 0);
    }
    const char *required[] = {"attack", "layers", "expect"};
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < NKEYS; k++)
            if (!strcmp(keys[k], required[i]) && !seen[k]) {
                fail(err, size, "the header has no '%s:' line", required[i]);
                goto fail;
            }
    if (!has_code) {
        fail(err, size, "no code below the header");
        goto fail;
    }
    if (!s->modes)
        s->modes = SPEC_MODE_WARM;
    return 0;
fail:
    spec_free(s);
    return -1;
}
