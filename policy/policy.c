/*
 * policy/policy.c - parsing and validating policy documents (JSON) into the
 * normalized form the library sends with every request. Errors name the
 * offending key path; nothing is half-applied.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

bool psb__module_name_valid(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > PSB__MAX_MODULE_NAME)
        return false;
    bool start = true;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (c == '.') {
            if (start)
                return false;
            start = true;
        } else if (alpha || (digit && !start)) {
            start = false;
        } else {
            return false;
        }
    }
    return !start;
}

bool psb__modlayer_name_valid(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > PSB__MAX_MODLAYER_NAME)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (p == name || (c != '_' && c != '-')))
            return false;
    }
    return true;
}

bool psb__env_name_valid(const char *name) {
    if (!name[0] || strlen(name) > 255)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != name && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool psb__import_allowed(const json_t *rules, bool default_allow, const char *module) {
    size_t best_len = 0, i;
    bool found = false, allow = default_allow;
    json_t *rule;
    json_array_foreach(rules, i, rule) {
        const char *m = json_string_value(json_object_get(rule, "module"));
        bool a = json_is_true(json_object_get(rule, "allow"));
        if (!m)
            continue;
        size_t ml = strlen(m);
        if (strncmp(module, m, ml) != 0 || (module[ml] != '\0' && module[ml] != '.'))
            continue;
        if (!found || ml > best_len || (ml == best_len && !a)) {
            found = true;
            best_len = ml;
            allow = a;
        }
    }
    return allow;
}

/* Checks that v is an array of strings accepted by valid(); path names it. */
static psb_status string_array(json_t *v, const char *path, bool (*valid)(const char *),
                               const char *what, size_t max, psb_error *err) {
    if (!json_is_array(v))
        return psb__err(err, PSB_EPOLICY, "%s: expected an array of strings", path);
    if (json_array_size(v) > max)
        return psb__err(err, PSB_EPOLICY, "%s: at most %zu entries", path, max);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        const char *s = json_string_value(e);
        if (!s)
            return psb__err(err, PSB_EPOLICY, "%s[%zu]: expected a string", path, i);
        if (valid && !valid(s))
            return psb__err(err, PSB_EPOLICY, "%s[%zu]: '%s' is not a valid %s", path, i, s, what);
    }
    return PSB_OK;
}

static bool abs_path_valid(const char *s) {
    return s[0] == '/' && strlen(s) < 4096 && !strstr(s, "/../") &&
           strcmp(s + strlen(s) - (strlen(s) >= 3 ? 3 : 0), "/..") != 0;
}

static bool event_valid(const char *s) {
    size_t len = strlen(s);
    if (!len || len > 128)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || (*p == '*' && !p[1])))
            return false;
    return true;
}

static bool layer_valid(const char *s) {
    return psb__layer_find(s) != 0;
}

static psb_status parse_run_as(json_t *v, json_t *out, psb_error *err) {
    if (!json_is_object(v))
        return psb__err(err, PSB_EPOLICY, "policy.run_as: expected an object");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (strcmp(key, "uid") != 0 && strcmp(key, "gid") != 0)
            return psb__err(err, PSB_EPOLICY, "policy.run_as.%s: unknown key", key);
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 1 || id > 4294967294)
            return psb__err(err, PSB_EPOLICY,
                            "policy.run_as.%s: expected an id between 1 and 4294967294 (never "
                            "0: executions do not run as root)",
                            key);
        json_object_set(out, key, val);
    }
    return PSB_OK;
}

static psb_status parse_imports(json_t *v, json_t *out, psb_error *err) {
    if (!json_is_object(v))
        return psb__err(err, PSB_EPOLICY, "policy.imports: expected an object");
    const char *key;
    json_t *val;
    json_t *rules = json_object_get(out, "rules");
    json_object_foreach(v, key, val) {
        if (strcmp(key, "default") == 0) {
            const char *d = json_string_value(val);
            if (!d || (strcmp(d, "allow") != 0 && strcmp(d, "deny") != 0))
                return psb__err(err, PSB_EPOLICY,
                                "policy.imports.default: expected \"allow\" or \"deny\"");
            json_object_set_new(out, "default_allow", json_boolean(strcmp(d, "allow") == 0));
        } else if (strcmp(key, "allow") == 0 || strcmp(key, "deny") == 0) {
            char path[64];
            snprintf(path, sizeof path, "policy.imports.%s", key);
            psb_status st = string_array(val, path, psb__module_name_valid, "module name",
                                         PSB__MAX_IMPORT_RULES, err);
            if (st)
                return st;
            size_t i;
            json_t *e;
            json_array_foreach(val, i, e) {
                if (json_array_size(rules) >= PSB__MAX_IMPORT_RULES)
                    return psb__err(err, PSB_EPOLICY, "policy.imports: at most %d rules",
                                    PSB__MAX_IMPORT_RULES);
                json_array_append_new(
                    rules, json_pack("{s:O,s:b}", "module", e, "allow", strcmp(key, "allow") == 0));
            }
        } else {
            return psb__err(err, PSB_EPOLICY, "policy.imports.%s: unknown key", key);
        }
    }
    return PSB_OK;
}

static psb_status parse_limits(json_t *v, psb__limits *limits, psb_error *err) {
    if (!json_is_object(v))
        return psb__err(err, PSB_EPOLICY, "policy.limits: expected an object");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        int id = psb__limit_find(key);
        if (id < 0)
            return psb__err(err, PSB_EPOLICY, "policy.limits.%s: unknown key", key);
        if (!json_is_integer(val) || json_integer_value(val) < 0)
            return psb__err(err, PSB_EPOLICY, "policy.limits.%s: expected a non-negative integer",
                            key);
        char what[96];
        snprintf(what, sizeof what, "policy.limits.%s", key);
        psb_error tmp = {0};
        if (psb__limit_check((enum psb__limit_id)id, (uint64_t)json_integer_value(val), what, &tmp))
            return psb__err(err, PSB_EPOLICY, "%s", tmp.message);
        limits->v[id] = (uint64_t)json_integer_value(val);
    }
    return PSB_OK;
}

static psb_status parse_env(json_t *v, psb_error *err) {
    if (!json_is_object(v))
        return psb__err(err, PSB_EPOLICY, "policy.env: expected an object of strings");
    if (json_object_size(v) > PSB__MAX_ENV_VARS)
        return psb__err(err, PSB_EPOLICY, "policy.env: at most %d variables", PSB__MAX_ENV_VARS);
    const char *key;
    json_t *val;
    size_t total = 0;
    json_object_foreach(v, key, val) {
        if (!psb__env_name_valid(key))
            return psb__err(err, PSB_EPOLICY, "policy.env.%s: invalid variable name", key);
        const char *s = json_string_value(val);
        if (!s || psb__has_nul(s, json_string_length(val)))
            return psb__err(err, PSB_EPOLICY, "policy.env.%s: expected a string", key);
        total += strlen(key) + json_string_length(val) + 2;
    }
    if (total > PSB__MAX_ENV_BYTES)
        return psb__err(err, PSB_EPOLICY, "policy.env: more than %u bytes", PSB__MAX_ENV_BYTES);
    return PSB_OK;
}

/* One key of a policy document into out (limits into *limits). */
static psb_status parse_key(const char *key, json_t *val, json_t *out, psb__limits *limits,
                            psb_error *err) {
    psb_status st = PSB_OK;
    if (strcmp(key, "imports") == 0) {
        st = parse_imports(val, json_object_get(out, "imports"), err);
    } else if (strcmp(key, "denied_events") == 0 || strcmp(key, "user_denied_events") == 0) {
        char path[64];
        snprintf(path, sizeof path, "policy.%s", key);
        st = string_array(val, path, event_valid, "audit event name", PSB__MAX_PATHS, err);
        if (!st)
            json_object_set(out, key, val);
    } else if (strcmp(key, "readable_paths") == 0) {
        st = string_array(val, "policy.readable_paths", abs_path_valid,
                          "absolute path without '..'", PSB__MAX_PATHS, err);
        if (!st)
            json_object_set(out, key, val);
    } else if (strcmp(key, "network") == 0) {
        if (!json_is_boolean(val))
            st = psb__err(err, PSB_EPOLICY, "policy.network: expected true or false");
        else
            json_object_set(out, key, val);
    } else if (strcmp(key, "limits") == 0) {
        st = parse_limits(val, limits, err);
    } else if (strcmp(key, "env") == 0) {
        st = parse_env(val, err);
        if (!st)
            json_object_set(out, key, val);
    } else if (strcmp(key, "require") == 0) {
        st = string_array(val, "policy.require", layer_valid,
                          "layer (seccomp, landlock, namespaces, unprivileged, hooks)", 8, err);
        if (!st)
            json_object_set(out, key, val);
    } else if (strcmp(key, "layers") == 0) {
        st = string_array(val, "policy.layers", psb__modlayer_name_valid,
                          "module layer name (letters, digits, '_' and '-')", PSB__MAX_MODLAYERS,
                          err);
        if (!st)
            json_object_set(out, key, val);
    } else if (strcmp(key, "run_as") == 0) {
        st = parse_run_as(val, json_object_get(out, "run_as"), err);
    } else if (strcmp(key, "description") == 0) {
        if (!json_is_string(val))
            st = psb__err(err, PSB_EPOLICY, "policy.description: expected a string");
    } else {
        st = psb__err(err, PSB_EPOLICY, "policy.%s: unknown key", key);
    }
    return st;
}

psb_status psb__policy_parse(const char *json_text, const char *name, psb__policy *ret,
                             psb_error *err) {
    psb_status st = PSB_OK;
    json_error_t jerr;
    json_t *in = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    json_t *out = NULL;
    psb__limits limits;
    psb__limits_default(&limits);
    if (!in) {
        st = psb__err(err, PSB_EPOLICY, "policy: invalid JSON at line %d column %d: %s", jerr.line,
                      jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(in)) {
        st = psb__err(err, PSB_EPOLICY, "policy: expected a JSON object");
        goto out;
    }
    out =
        json_pack("{s:{s:b,s:[]},s:[],s:[],s:[],s:b,s:{},s:{},s:[ssss],s:{s:i,s:i},s:[]}",
                  "imports", "default_allow", 1, "rules", "denied_events", "user_denied_events",
                  "readable_paths", "network", 0, "env", "limits", "require", "seccomp", "landlock",
                  "namespaces", "unprivileged", "run_as", "uid", 65534, "gid", 65534, "layers");
    if (!out) {
        st = psb__err(err, PSB_ENOMEM, "policy: out of memory");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(in, key, val) {
        st = parse_key(key, val, out, &limits, err);
        if (st)
            goto out;
    }
    json_t *lim = json_object_get(out, "limits");
    for (int i = 0; i < PSB__LIMIT_COUNT; i++)
        json_object_set_new(lim, psb__limit_key((enum psb__limit_id)i),
                            json_integer((json_int_t)limits.v[i]));
    memset(ret, 0, sizeof *ret);
    snprintf(ret->name, sizeof ret->name, "%s", name);
    ret->doc = out;
    ret->limits = limits;
    out = NULL;
out:
    json_decref(in);
    json_decref(out);
    return st;
}

psb_status psb__policy_load(const char *name_or_path, psb__policy *ret, psb_error *err) {
    /* A policy document itself, as `--policy '{"network": false}'` gives it. */
    const char *inline_doc = name_or_path + strspn(name_or_path, " \t\r\n");
    if (inline_doc[0] == '{')
        return psb__policy_parse(inline_doc, "inline", ret, err);
    const char *preset = psb__preset_json(name_or_path);
    if (preset)
        return psb__policy_parse(preset, name_or_path, ret, err);
    if (!strchr(name_or_path, '/') && !strstr(name_or_path, ".json"))
        return psb__err(err, PSB_EPOLICY,
                        "unknown policy preset '%s' (presets: default, data-science, strict; "
                        "or give a path to a JSON policy file)",
                        name_or_path);
    psb_status st = PSB_OK;
    psb__buf text = {0};
    FILE *f = fopen(name_or_path, "re");
    if (!f)
        return psb__err_sys(err, errno, "cannot open policy file '%s'", name_or_path);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (text.len + n > (1u << 20)) {
            st = psb__err(err, PSB_EPOLICY, "policy file '%s' is larger than 1 MiB", name_or_path);
            goto out;
        }
        if (psb__buf_append(&text, chunk, n)) {
            st = psb__err(err, PSB_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (ferror(f)) {
        st = psb__err_sys(err, errno, "cannot read policy file '%s'", name_or_path);
        goto out;
    }
    if (!text.data || psb__has_nul(text.data, text.len)) {
        st = psb__err(err, PSB_EPOLICY, "policy file '%s' is empty or binary", name_or_path);
        goto out;
    }
    st = psb__policy_parse(text.data, "file", ret, err);
out:
    fclose(f);
    psb__buf_free(&text);
    return st;
}

void psb__policy_clear(psb__policy *policy) {
    if (!policy)
        return;
    json_decref(policy->doc);
    policy->doc = NULL;
}

psb_status psb__policy_copy(const psb__policy *src, psb__policy *dst, psb_error *err) {
    json_t *doc = json_deep_copy(src->doc);
    if (!doc)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    *dst = *src;
    dst->doc = doc;
    return PSB_OK;
}
