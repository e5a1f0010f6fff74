/*
 * embed/request.c - the request document of one execution: built by the
 * library from the policy and the options; its control part (limits,
 * readable paths) checked by the helper, the whole checked by the child.
 */
#include <stdio.h>
#include <string.h>

#include "embed/internal.h"

json_t *psb__request_build(const psb__policy *policy, const psb_exec_options *o, const char *code,
                           size_t len, psb_error *err) {
    json_t *req = NULL, *limits = NULL, *env = NULL, *imports = NULL, *rules = NULL;
    const json_t *pol = policy->doc;
    if (psb__code_check(code, len, "code", err))
        return NULL;
    limits = json_object();
    for (int i = 0; limits && i < PSB__LIMIT_COUNT; i++) {
        uint64_t v = o && o->has_limit[i] ? o->limits.v[i] : policy->limits.v[i];
        json_object_set_new(limits, psb__limit_key((enum psb__limit_id)i),
                            json_integer((json_int_t)v));
    }
    env = json_deep_copy(json_object_get(pol, "env"));
    if (env && o && o->env)
        json_object_update(env, o->env);
    const json_t *pol_imports = json_object_get(pol, "imports");
    rules = json_deep_copy(json_object_get(pol_imports, "rules"));
    if (rules && o && o->import_rules) {
        /* The caller's own rules override the policy's rules for the same module. */
        size_t i, j;
        json_t *mine, *theirs;
        json_array_foreach(o->import_rules, i, mine) {
            const char *m = json_string_value(json_object_get(mine, "module"));
            for (j = json_array_size(rules); j-- > 0;) {
                theirs = json_array_get(rules, j);
                if (m && strcmp(m, json_string_value(json_object_get(theirs, "module"))) == 0)
                    json_array_remove(rules, j);
            }
        }
        json_array_extend(rules, o->import_rules);
    }
    imports = json_pack("{s:O,s:O}", "default_allow", json_object_get(pol_imports, "default_allow"),
                        "rules", rules);
    if (!limits || !env || !imports)
        goto nomem;
    req = json_pack("{s:s%,s:s?,s:O?,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:b}", "code", code ? code : "",
                    len, "prelude", o ? o->prelude : NULL, "inputs", o ? o->inputs : NULL, "limits",
                    limits, "env", env, "imports", imports, "denied_events",
                    json_object_get(pol, "denied_events"), "user_denied_events",
                    json_object_get(pol, "user_denied_events"), "readable_paths",
                    json_object_get(pol, "readable_paths"), "network",
                    json_object_get(pol, "network"), "has_stdin", o && o->has_stdin);
    if (!req)
        goto nomem;
    json_t *names = json_array();
    for (size_t k = 0; names && o && k < o->n_files; k++)
        json_array_append_new(names, json_string(o->files[k].name));
    if (!names || json_object_set_new(req, "files", names) != 0) {
        json_decref(req);
        req = NULL;
        goto nomem;
    }
    goto out;
nomem:
    psb__err(err, PSB_ENOMEM, "out of memory building the request");
out:
    json_decref(limits);
    json_decref(env);
    json_decref(imports);
    json_decref(rules);
    return req;
}

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

/* The name of the first limit that is missing or out of range, or NULL. */
static const char *bad_limit(const json_t *limits) {
    if (!json_is_object(limits))
        return "limits";
    for (int i = 0; i < PSB__LIMIT_COUNT; i++) {
        const char *key = psb__limit_key((enum psb__limit_id)i);
        json_t *v = json_object_get(limits, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            psb__limit_check((enum psb__limit_id)i, (uint64_t)json_integer_value(v), key, NULL) !=
                PSB_OK)
            return key;
    }
    return NULL;
}

int psb__control_check(const json_t *control, char *msg, size_t msg_size) {
    const char *bad = NULL;
    if (!json_is_object(control))
        bad = "control is not an object";
    else if (!strings_only(json_object_get(control, "readable_paths")))
        bad = "readable_paths";
    else
        bad = bad_limit(json_object_get(control, "limits"));
    if (bad) {
        snprintf(msg, msg_size, "malformed request: %s", bad);
        return -1;
    }
    return 0;
}

int psb__request_check(const json_t *req, char *msg, size_t msg_size) {
    const char *bad = NULL;
    const json_t *limits = json_object_get(req, "limits");
    const json_t *imports = json_object_get(req, "imports");
    const json_t *env = json_object_get(req, "env");
    const json_t *prelude = json_object_get(req, "prelude");
    const json_t *inputs = json_object_get(req, "inputs");
    if (!json_is_object(req))
        bad = "request is not an object";
    else if (!json_is_string(json_object_get(req, "code")))
        bad = "code";
    else if (prelude && !json_is_null(prelude) && !json_is_string(prelude))
        bad = "prelude";
    else if (inputs && !json_is_null(inputs) && !json_is_object(inputs))
        bad = "inputs";
    else if (!json_is_object(limits))
        bad = "limits";
    else if (!json_is_object(env))
        bad = "env";
    else if (!json_is_object(imports) ||
             !json_is_boolean(json_object_get(imports, "default_allow")) ||
             !json_is_array(json_object_get(imports, "rules")))
        bad = "imports";
    else if (!strings_only(json_object_get(req, "denied_events")))
        bad = "denied_events";
    else if (!strings_only(json_object_get(req, "user_denied_events")))
        bad = "user_denied_events";
    else if (!strings_only(json_object_get(req, "readable_paths")))
        bad = "readable_paths";
    else if (!json_is_boolean(json_object_get(req, "network")))
        bad = "network";
    else if (!json_is_boolean(json_object_get(req, "has_stdin")))
        bad = "has_stdin";
    else if (!strings_only(json_object_get(req, "files")) ||
             json_array_size(json_object_get(req, "files")) > PSB__MAX_FILES)
        bad = "files";
    if (!bad)
        bad = bad_limit(limits);
    const char *k;
    json_t *v;
    if (!bad) {
        json_object_foreach((json_t *)(uintptr_t)env, k, v) {
            if (!psb__env_name_valid(k) || !json_is_string(v))
                bad = "env";
        }
    }
    if (bad) {
        snprintf(msg, msg_size, "malformed request: %s", bad);
        return -1;
    }
    return 0;
}

void psb__request_limits(const json_t *req, psb__limits *ret_limits) {
    const json_t *limits = json_object_get(req, "limits");
    for (int i = 0; i < PSB__LIMIT_COUNT; i++)
        ret_limits->v[i] = (uint64_t)json_integer_value(
            json_object_get(limits, psb__limit_key((enum psb__limit_id)i)));
}
