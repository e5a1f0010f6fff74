/*
 * host/request.c - the request document of one execution: built by the
 * library from the policy and the options; its control part (limits,
 * readable paths) checked by the helper, the whole checked by the child.
 */
#include <stdio.h>
#include <string.h>

#include "host/host.h"

psb_status psb__code_check(const char *code, size_t len, const char *what, psb_error *err) {
    if (!code && len)
        return psb__err(err, PSB_EINVAL, "%s: NULL code", what);
    if (len > PSB__MAX_CODE_BYTES)
        return psb__err(err, PSB_EINVAL, "%s is %zu bytes, the maximum is %zu", what, len,
                        PSB__MAX_CODE_BYTES);
    if (len && psb__has_nul(code, len))
        return psb__err(err, PSB_EINVAL, "%s contains a NUL byte", what);
    if (len && !psb__utf8_valid(code, len))
        return psb__err(err, PSB_EINVAL, "%s is not valid UTF-8", what);
    return PSB_OK;
}

json_t *psb__request_build(const psb__policy *policy, const psb_exec_options *o,
                           const json_t *sites, const char *code, size_t len,
                           psb__limits *ret_limits, psb_error *err) {
    json_t *req = NULL, *limits = NULL, *env = NULL, *imports = NULL, *rules = NULL;
    json_t *readable = NULL;
    const json_t *pol = policy->doc;
    if (psb__code_check(code, len, "code", err))
        return NULL;
    limits = json_object();
    for (int i = 0; limits && i < PSB__LIMIT_COUNT; i++) {
        uint64_t v = o && o->has_limit[i] ? o->limits.v[i] : policy->limits.v[i];
        ret_limits->v[i] = v;
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
    imports = json_pack("{s:O,s:O}", PSB__KEY_DEFAULT_ALLOW,
                        json_object_get(pol_imports, "default_allow"), PSB__KEY_RULES, rules);
    /* Module layers and an install's new generation are read like the policy's paths. */
    readable = json_deep_copy(json_object_get(pol, "readable_paths"));
    if (readable && sites)
        json_array_extend(readable, (json_t *)(uintptr_t)sites);
    if (readable && o && o->writable)
        json_array_append_new(readable, json_string(o->writable));
    if (!limits || !env || !imports || !readable)
        goto nomem;
    /* The policy document's keys on the right, the wire's on the left. */
    req = json_pack("{s:s%,s:s?,s:O?,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:b,s:b}", PSB__KEY_CODE,
                    code ? code : "", len, PSB__KEY_PRELUDE, o ? o->prelude : NULL, PSB__KEY_INPUTS,
                    o ? o->inputs : NULL, PSB__KEY_LIMITS, limits, PSB__KEY_ENV, env,
                    PSB__KEY_IMPORTS, imports, PSB__KEY_DENIED_EVENTS,
                    json_object_get(pol, "denied_events"), PSB__KEY_USER_DENIED_EVENTS,
                    json_object_get(pol, "user_denied_events"), PSB__KEY_READABLE_PATHS, readable,
                    PSB__KEY_NETWORK, json_object_get(pol, "network"), PSB__KEY_HAS_STDIN,
                    o && o->has_stdin, PSB__KEY_INPUT, o && o->on_input);
    if (!req)
        goto nomem;
    json_t *names = json_array();
    for (size_t k = 0; names && o && k < o->n_files; k++)
        json_array_append_new(names, json_string(o->files[k].name));
    if (!names || json_object_set_new(req, PSB__KEY_FILES, names) != 0 ||
        (sites && json_array_size(sites) &&
         json_object_set(req, PSB__KEY_SITES, (json_t *)(uintptr_t)sites) != 0) ||
        (o && o->writable &&
         json_object_set_new(req, PSB__KEY_WRITABLE, json_string(o->writable)) != 0)) {
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
    json_decref(readable);
    return req;
}
