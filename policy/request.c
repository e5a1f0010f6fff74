/*
 * policy/request.c - checking and decoding a request document in the
 * helper (its CONTROL part) and in the child (the whole).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/wire.h"
#include "policy/request.h"

static bool strings_only(const json_t *arr) {
    size_t i;
    json_t *e;
    if (!json_is_array(arr))
        return false;
    json_array_foreach(arr, i, e) {
        if (!json_is_string(e))
            return false;
    }
    return true;
}

/* Decodes every limit; the key of the first missing or out of range one, or NULL. */
static const char *decode_limits(const json_t *limits, psb__limits *ret) {
    if (!json_is_object(limits))
        return PSB__KEY_LIMITS;
    for (int i = 0; i < PSB__LIMIT_COUNT; i++) {
        const char *key = psb__limit_key((enum psb__limit_id)i);
        json_t *v = json_object_get(limits, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            psb__limit_check((enum psb__limit_id)i, (uint64_t)json_integer_value(v), key, NULL) !=
                PSB_OK)
            return key;
        ret->v[i] = (uint64_t)json_integer_value(v);
    }
    return NULL;
}

static bool env_valid(const json_t *env) {
    const char *k;
    json_t *v;
    if (!json_is_object(env))
        return false;
    json_object_foreach((json_t *)(uintptr_t)env, k, v) {
        if (!psb__env_name_valid(k) || !json_is_string(v))
            return false;
    }
    return true;
}

static bool rules_valid(const json_t *rules) {
    size_t i;
    json_t *r;
    if (!json_is_array(rules))
        return false;
    json_array_foreach(rules, i, r) {
        const char *m = json_string_value(json_object_get(r, "module"));
        if (!m || !psb__module_name_valid(m) || !json_is_boolean(json_object_get(r, "allow")))
            return false;
    }
    return true;
}

/* A string without NUL bytes; absent or null too when optional. */
static bool text_valid(const json_t *v, bool optional) {
    if (optional && (!v || json_is_null(v)))
        return true;
    return json_is_string(v) && !psb__has_nul(json_string_value(v), json_string_length(v));
}

/* An absolute path without NUL; absent or null too. */
static bool dir_valid(const json_t *v) {
    return !v || json_is_null(v) || (text_valid(v, false) && json_string_value(v)[0] == '/');
}

static int malformed(const char *key, char *msg, size_t msg_size) {
    snprintf(msg, msg_size, "malformed request: %s", key);
    return -1;
}

int psb__control_decode(const json_t *doc, struct psb__control *ret, char *msg, size_t msg_size) {
    if (!json_is_object(doc))
        return malformed("control is not an object", msg, msg_size);
    struct psb__control c = {.readable_paths = json_object_get(doc, PSB__KEY_READABLE_PATHS)};
    if (!strings_only(c.readable_paths))
        return malformed(PSB__KEY_READABLE_PATHS, msg, msg_size);
    const json_t *writable = json_object_get(doc, PSB__KEY_WRITABLE);
    if (!dir_valid(writable))
        return malformed(PSB__KEY_WRITABLE, msg, msg_size);
    c.writable = json_string_value(writable);
    const char *bad = decode_limits(json_object_get(doc, PSB__KEY_LIMITS), &c.limits);
    if (bad)
        return malformed(bad, msg, msg_size);
    *ret = c;
    return 0;
}

int psb__request_decode(const json_t *doc, struct psb__request *ret, char *msg, size_t msg_size) {
    if (!json_is_object(doc))
        return malformed("request is not an object", msg, msg_size);
    struct psb__request r = {0};
    const json_t *code = json_object_get(doc, PSB__KEY_CODE);
    const json_t *prelude = json_object_get(doc, PSB__KEY_PRELUDE);
    const json_t *inputs = json_object_get(doc, PSB__KEY_INPUTS);
    const json_t *imports = json_object_get(doc, PSB__KEY_IMPORTS);
    const json_t *allow = json_object_get(imports, PSB__KEY_DEFAULT_ALLOW);
    const json_t *network = json_object_get(doc, PSB__KEY_NETWORK);
    const json_t *has_stdin = json_object_get(doc, PSB__KEY_HAS_STDIN);
    const json_t *session = json_object_get(doc, PSB__KEY_SESSION);
    const json_t *input = json_object_get(doc, PSB__KEY_INPUT);
    const json_t *ask = json_object_get(doc, PSB__KEY_ASK);
    const json_t *cursor = json_object_get(doc, PSB__KEY_CURSOR);
    r.env = json_object_get(doc, PSB__KEY_ENV);
    r.import_rules = json_object_get(imports, PSB__KEY_RULES);
    r.denied_events = json_object_get(doc, PSB__KEY_DENIED_EVENTS);
    r.user_denied_events = json_object_get(doc, PSB__KEY_USER_DENIED_EVENTS);
    r.readable_paths = json_object_get(doc, PSB__KEY_READABLE_PATHS);
    r.files = json_object_get(doc, PSB__KEY_FILES);
    r.sites = json_object_get(doc, PSB__KEY_SITES);
    const json_t *writable = json_object_get(doc, PSB__KEY_WRITABLE);
    r.writable = json_string_value(writable);
    const char *bad = NULL;
    if (!text_valid(code, false))
        bad = PSB__KEY_CODE;
    else if (!text_valid(prelude, true))
        bad = PSB__KEY_PRELUDE;
    else if (inputs && !json_is_null(inputs) && !json_is_object(inputs))
        bad = PSB__KEY_INPUTS;
    else if (!env_valid(r.env))
        bad = PSB__KEY_ENV;
    else if (!json_is_boolean(allow) || !rules_valid(r.import_rules))
        bad = PSB__KEY_IMPORTS;
    else if (!strings_only(r.denied_events))
        bad = PSB__KEY_DENIED_EVENTS;
    else if (!strings_only(r.user_denied_events))
        bad = PSB__KEY_USER_DENIED_EVENTS;
    else if (!strings_only(r.readable_paths))
        bad = PSB__KEY_READABLE_PATHS;
    else if (!json_is_boolean(network))
        bad = PSB__KEY_NETWORK;
    else if (!json_is_boolean(has_stdin))
        bad = PSB__KEY_HAS_STDIN;
    else if (!strings_only(r.files) || json_array_size(r.files) > PSB__MAX_FILES)
        bad = PSB__KEY_FILES;
    else if (r.sites && (!strings_only(r.sites) || json_array_size(r.sites) > PSB__MAX_MODLAYERS))
        bad = PSB__KEY_SITES;
    else if (!dir_valid(writable))
        bad = PSB__KEY_WRITABLE;
    else if (session && !json_is_boolean(session))
        bad = PSB__KEY_SESSION;
    else if (input && !json_is_boolean(input))
        bad = PSB__KEY_INPUT;
    else if (ask && !text_valid(ask, false))
        bad = PSB__KEY_ASK;
    else if (cursor && (!json_is_integer(cursor) || json_integer_value(cursor) < 0 ||
                        (size_t)json_integer_value(cursor) > PSB__MAX_CODE_BYTES))
        bad = PSB__KEY_CURSOR;
    else
        bad = decode_limits(json_object_get(doc, PSB__KEY_LIMITS), &r.limits);
    if (bad)
        return malformed(bad, msg, msg_size);
    r.code = json_string_value(code);
    r.code_len = json_string_length(code);
    r.prelude = json_string_value(prelude);
    r.inputs = json_is_object(inputs) ? inputs : NULL;
    r.default_allow = json_is_true(allow);
    r.network = json_is_true(network);
    r.has_stdin = json_is_true(has_stdin);
    r.session = json_is_true(session);
    r.input = json_is_true(input);
    r.ask = json_string_value(ask);
    r.cursor = cursor ? (size_t)json_integer_value(cursor) : 0;
    *ret = r;
    return 0;
}
