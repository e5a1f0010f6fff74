/*
 * request.c - one execution described as a JSON object, the form every
 * surface shares: `pysandbox serve` reads it from a client, `run
 * --connect` sends it, and `run` itself builds one from its flags and
 * applies it here, so each field is checked and mapped onto the library in
 * one place. Field names are the flags' names with '_' for '-'.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"

/* Longest timeout a request may ask for, in seconds (the library's 24 h). */
#define TIMEOUT_MAX_S 86400.0

__attribute__((format(printf, 4, 5))) int cli_fault_set(struct cli_fault *f, const char *code,
                                                        const char *field, const char *fmt, ...) {
    if (f->code == NULL) { /* the first fault is the one reported */
        va_list ap;
        f->code = code;
        snprintf(f->field, sizeof f->field, "%s", field ? field : "");
        va_start(ap, fmt);
        vsnprintf(f->message, sizeof f->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A setter's refusal: the library's message, under the field's name. */
static int setter_fault(struct cli_fault *f, const char *field, psb_status st,
                        const psb_error *err) {
    if (st == PSB_ENOMEM)
        return cli_fault_set(f, "internal", field, "out of memory");
    return cli_fault_set(f, "invalid_value", field, "%s",
                         err->message[0] ? err->message : psb_status_str(st));
}

/* The fields of a run request, and what the caller's `allow` must hold for each. */
static const struct {
    const char *name;
    unsigned needs; /* CLI_REQ_* bits; 0: always allowed */
} fields[] = {
    {"code", 0},
    {"inputs", 0},
    {"stdin", 0},
    {"env", 0},
    {"prelude", 0},
    {"files", 0},
    {"timeout", 0},
    {"memory_mb", 0},
    {"cpu_seconds", 0},
    {"result_limit_bytes", 0},
    {"files_limit_bytes", 0},
    {"figures_limit_bytes", 0},
    {"display_limit_bytes", 0},
    {"displays_limit_bytes", 0},
    {"stdout_limit_bytes", 0},
    {"stderr_limit_bytes", 0},
    {"allow_import", CLI_REQ_WIDEN},
    {"deny_import", 0},
    {"layers", 0},
    {"cold", 0},
    {"id", CLI_REQ_ENVELOPE},
    {"op", CLI_REQ_ENVELOPE},
    {"stream", CLI_REQ_ENVELOPE},
    {"session", CLI_REQ_ENVELOPE},
    {"session_lifetime_seconds", 0},
    {"session_idle_seconds", 0},
};

/* Every key of req is a field the caller allows: 0, or -1 naming the first that is not. */
static int check_keys(const json_t *req, unsigned allow, struct cli_fault *f) {
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)(uintptr_t)req, key, value) {
        size_t i, n = sizeof fields / sizeof fields[0];
        for (i = 0; i < n && strcmp(fields[i].name, key) != 0; i++)
            ;
        if (i == n || (fields[i].needs & ~allow & CLI_REQ_ENVELOPE))
            return cli_fault_set(f, "unknown_field", key, "is not a field of a request");
        if (fields[i].needs & ~allow)
            return cli_fault_set(f, "forbidden", key,
                                 "is not allowed by this server (it widens the policy)");
    }
    return 0;
}

/* Bytes as a request carries them: a string (its UTF-8) or {"$type":"bytes","base64"}. */
static int cli_request_bytes(const json_t *v, const char *field, psb__buf *ret,
                             struct cli_fault *f) {
    memset(ret, 0, sizeof *ret);
    if (json_is_string(v))
        return psb__buf_append(ret, json_string_value(v), json_string_length(v)) == 0
                   ? 0
                   : cli_fault_set(f, "internal", field, "out of memory");
    const char *type = NULL, *b64 = NULL;
    size_t b64_len = 0;
    if (!json_is_object(v) || json_object_size(v) != 2 ||
        json_unpack((json_t *)(uintptr_t)v, "{s:s,s:s%}", "$type", &type, "base64", &b64,
                    &b64_len) != 0 ||
        strcmp(type, "bytes") != 0)
        return cli_fault_set(f, "wrong_type", field,
                             "must be a string or {\"$type\": \"bytes\", \"base64\": ...}");
    if (psb__base64_decode(b64, b64_len, ret) != 0)
        return cli_fault_set(f, "invalid_value", field, "the base64 is malformed");
    return 0;
}

json_t *cli_bytes_json(const char *data, size_t len) {
    if (psb__utf8_valid(data, len) && !psb__has_nul(data, len))
        return json_stringn(data, len);
    char *b64 = psb__base64_encode(data, len);
    json_t *v = b64 ? json_pack("{s:s,s:s}", "$type", "bytes", "base64", b64) : NULL;
    free(b64);
    return v;
}

/* A whole number of the field's unit, or -1. */
static int get_u64(const json_t *v, const char *field, uint64_t *ret, struct cli_fault *f) {
    if (!json_is_integer(v))
        return cli_fault_set(f, "wrong_type", field, "must be an integer");
    if (json_integer_value(v) < 0)
        return cli_fault_set(f, "out_of_range", field, "must not be negative");
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

/* The limits: each one the request names, through its setter. */
static int apply_limits(const json_t *req, psb_exec_options *o, struct cli_fault *f) {
    psb_error err = {0};
    psb_status st = PSB_OK;
    json_t *v;
    uint64_t n = 0, out = CLI_OUTPUT_LIMIT_DEFAULT_BYTES, errb = CLI_OUTPUT_LIMIT_DEFAULT_BYTES;
    if ((v = json_object_get(req, "timeout"))) {
        if (!json_is_number(v))
            return cli_fault_set(f, "wrong_type", "timeout", "must be a number (seconds)");
        double s = json_number_value(v);
        if (!(s >= 0.001 && s <= TIMEOUT_MAX_S))
            return cli_fault_set(f, "out_of_range", "timeout",
                                 "must be between 0.001 and 86400 seconds");
        if ((st = psb_exec_options_set_timeout_ms(o, (uint64_t)llround(s * 1000.0), &err)))
            return setter_fault(f, "timeout", st, &err);
    }
    static const struct {
        const char *name;
        psb_status (*set)(psb_exec_options *, uint64_t, psb_error *);
    } one[] = {
        {"memory_mb", psb_exec_options_set_memory_limit_mib},
        {"cpu_seconds", psb_exec_options_set_cpu_limit_s},
        {"session_lifetime_seconds", psb_exec_options_set_session_lifetime_s},
        {"session_idle_seconds", psb_exec_options_set_session_idle_s},
        {"result_limit_bytes", psb_exec_options_set_result_limit_bytes},
        {"files_limit_bytes", psb_exec_options_set_files_limit_bytes},
        {"figures_limit_bytes", psb_exec_options_set_figures_limit_bytes},
        {"display_limit_bytes", psb_exec_options_set_display_limit_bytes},
        {"displays_limit_bytes", psb_exec_options_set_displays_limit_bytes},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        if (!(v = json_object_get(req, one[i].name)))
            continue;
        if (get_u64(v, one[i].name, &n, f) != 0)
            return -1;
        if (one[i].set(o, n, &err) != PSB_OK)
            return cli_fault_set(f, "out_of_range", one[i].name, "%s", err.message);
    }
    json_t *so = json_object_get(req, "stdout_limit_bytes");
    json_t *se = json_object_get(req, "stderr_limit_bytes");
    if ((so && get_u64(so, "stdout_limit_bytes", &out, f) != 0) ||
        (se && get_u64(se, "stderr_limit_bytes", &errb, f) != 0))
        return -1;
    if ((so || se) && psb_exec_options_set_output_limits(o, out, errb, &err) != PSB_OK)
        return cli_fault_set(f, "out_of_range", so ? "stdout_limit_bytes" : "stderr_limit_bytes",
                             "%s", err.message);
    return 0;
}

/* env and files: objects of NAME -> value. */
static int apply_maps(const json_t *req, psb_exec_options *o, struct cli_fault *f) {
    psb_error err = {0};
    psb_status st;
    const char *key;
    json_t *v, *map;
    char field[CLI_FIELD_MAX];
    if ((map = json_object_get(req, "env"))) {
        if (!json_is_object(map))
            return cli_fault_set(f, "wrong_type", "env", "must be an object of strings");
        json_object_foreach(map, key, v) {
            snprintf(field, sizeof field, "env.%s", key);
            if (!json_is_string(v))
                return cli_fault_set(f, "wrong_type", field, "must be a string");
            if ((st = psb_exec_options_set_env(o, key, json_string_value(v), &err)) != PSB_OK)
                return setter_fault(f, field, st, &err);
        }
    }
    if ((map = json_object_get(req, "files"))) {
        if (!json_is_object(map))
            return cli_fault_set(f, "wrong_type", "files", "must be an object");
        json_object_foreach(map, key, v) {
            psb__buf data;
            snprintf(field, sizeof field, "files.%s", key);
            if (cli_request_bytes(v, field, &data, f) != 0)
                return -1;
            st = psb_exec_options_add_file(o, key, data.data ? data.data : "", data.len, &err);
            psb__buf_free(&data);
            if (st != PSB_OK)
                return setter_fault(f, field, st, &err);
        }
    }
    return 0;
}

/* allow_import and deny_import: arrays of module names; layers: of module layer names. */
static int apply_names(const json_t *req, psb_exec_options *o, struct cli_fault *f) {
    static const char *const names[] = {"allow_import", "deny_import", "layers"};
    psb_error err = {0};
    char field[CLI_FIELD_MAX];
    for (int k = 0; k < 3; k++) {
        json_t *arr = json_object_get(req, names[k]), *v;
        size_t i;
        if (!arr)
            continue;
        if (!json_is_array(arr))
            return cli_fault_set(f, "wrong_type", names[k], "must be an array of strings");
        json_array_foreach(arr, i, v) {
            snprintf(field, sizeof field, "%s[%zu]", names[k], i);
            if (!json_is_string(v))
                return cli_fault_set(f, "wrong_type", field, "must be a string");
            const char *s = json_string_value(v);
            psb_status st = k == 0   ? psb_exec_options_allow_import(o, s, &err)
                            : k == 1 ? psb_exec_options_deny_import(o, s, &err)
                                     : psb_exec_options_add_layer(o, s, &err);
            if (st != PSB_OK)
                return setter_fault(f, field, st, &err);
        }
    }
    return 0;
}

/* A text field (code, prelude): a string without NUL. NULL when absent. */
static int get_text(const json_t *req, const char *field, const char **ret, size_t *ret_len,
                    struct cli_fault *f) {
    json_t *v = json_object_get(req, field);
    *ret = NULL;
    *ret_len = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return cli_fault_set(f, "wrong_type", field, "must be a string");
    *ret = json_string_value(v);
    *ret_len = json_string_length(v);
    if (memchr(*ret, '\0', *ret_len))
        return cli_fault_set(f, "invalid_value", field, "holds a NUL character");
    return 0;
}

/* Optional booleans: cold and stream. */
static int get_bool(const json_t *req, const char *field, bool *ret, struct cli_fault *f) {
    json_t *v = json_object_get(req, field);
    *ret = false;
    if (v && !json_is_boolean(v))
        return cli_fault_set(f, "wrong_type", field, "must be true or false");
    *ret = json_is_true(v);
    return 0;
}

/* code, prelude, inputs and stdin. */
static int apply_texts(const json_t *req, unsigned allow, struct cli_run_request *r,
                       struct cli_fault *f) {
    psb_error err = {0};
    psb_status st;
    const char *prelude;
    size_t prelude_len;
    json_t *v;
    if (get_text(req, "code", &r->code, &r->code_len, f) != 0 ||
        get_text(req, "prelude", &prelude, &prelude_len, f) != 0)
        return -1;
    if (!r->code && !(allow & CLI_REQ_NO_CODE))
        return cli_fault_set(f, "missing_field", "code", "is required");
    if (prelude && (st = psb_exec_options_set_prelude(r->options, prelude, prelude_len, &err)))
        return setter_fault(f, "prelude", st, &err);
    if ((v = json_object_get(req, "inputs"))) {
        if (!json_is_object(v))
            return cli_fault_set(f, "wrong_type", "inputs", "must be a JSON object");
        char *text = psb__json_dumps(v);
        st = text ? psb_exec_options_set_inputs_json(r->options, text, strlen(text), &err)
                  : PSB_ENOMEM;
        free(text);
        if (st != PSB_OK)
            return setter_fault(f, "inputs", st, &err);
    }
    if ((v = json_object_get(req, "stdin"))) {
        psb__buf data;
        if (cli_request_bytes(v, "stdin", &data, f) != 0)
            return -1;
        st = psb_exec_options_set_stdin(r->options, data.data ? data.data : "", data.len, &err);
        psb__buf_free(&data);
        if (st != PSB_OK)
            return setter_fault(f, "stdin", st, &err);
    }
    return 0;
}

int cli_request_decode(const json_t *req, unsigned allow, struct cli_run_request *r,
                       struct cli_fault *f) {
    psb_error err = {0};
    memset(r, 0, sizeof *r);
    if (!json_is_object(req))
        return cli_fault_set(f, "wrong_type", "", "a request must be a JSON object");
    if (check_keys(req, allow, f) != 0)
        return -1;
    if (!(r->options = psb_exec_options_new(&err)))
        return cli_fault_set(f, "internal", "", "out of memory");
    if (apply_texts(req, allow, r, f) != 0 || apply_limits(req, r->options, f) != 0 ||
        apply_maps(req, r->options, f) != 0 || apply_names(req, r->options, f) != 0 ||
        get_bool(req, "cold", &r->cold, f) != 0 || get_bool(req, "stream", &r->stream, f) != 0) {
        cli_request_release(r);
        return -1;
    }
    return 0;
}

void cli_request_release(struct cli_run_request *r) {
    psb_exec_options_free(r->options);
    r->options = NULL;
}
