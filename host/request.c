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

json_t *psb__request_build(const psb__policy *policy, const psb_exec_options *o, const char *code,
                           size_t len, psb__limits *ret_limits, psb_error *err) {
    json_t *req = NULL, *limits = NULL, *env = NULL, *imports = NULL, *rules = NULL;
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
