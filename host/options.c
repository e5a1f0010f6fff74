/*
 * host/options.c - psb_exec_options: per-execution overrides of the
 * policy. Every setter validates its input first and changes nothing on
 * error.
 */
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

psb_exec_options *psb_exec_options_new(psb_error *err) {
    psb_exec_options *o = calloc(1, sizeof *o);
    if (!o)
        psb__err(err, PSB_ENOMEM, "out of memory");
    return o;
}

void psb_exec_options_free(psb_exec_options *o) {
    if (!o)
        return;
    psb__buf_free(&o->stdin_data);
    json_decref(o->env);
    json_decref(o->import_rules);
    json_decref(o->inputs);
    free(o->prelude);
    psb__files_free(o->files, o->n_files);
    json_decref(o->layers);
    free(o->writable);
    free(o);
}

static psb_status set_limit(psb_exec_options *o, enum psb__limit_id id, uint64_t value,
                            const char *what, psb_error *err) {
    if (!o)
        return psb__err(err, PSB_EINVAL, "%s: NULL options", what);
    psb_status st = psb__limit_check(id, value, what, err);
    if (st)
        return st;
    o->limits.v[id] = value;
    o->has_limit[id] = true;
    return PSB_OK;
}

psb_status psb_exec_options_set_timeout_ms(psb_exec_options *o, uint64_t timeout_ms,
                                           psb_error *err) {
    return set_limit(o, PSB__LIMIT_TIMEOUT_MS, timeout_ms, "timeout (ms)", err);
}

psb_status psb_exec_options_set_memory_limit_mib(psb_exec_options *o, uint64_t memory_mib,
                                                 psb_error *err) {
    return set_limit(o, PSB__LIMIT_MEMORY_MIB, memory_mib, "memory limit (MiB)", err);
}

psb_status psb_exec_options_set_cpu_limit_s(psb_exec_options *o, uint64_t cpu_s, psb_error *err) {
    return set_limit(o, PSB__LIMIT_CPU_S, cpu_s, "CPU limit (s)", err);
}

psb_status psb_exec_options_set_output_limits(psb_exec_options *o, uint64_t stdout_bytes,
                                              uint64_t stderr_bytes, psb_error *err) {
    psb_status st =
        psb__limit_check(PSB__LIMIT_STDERR_BYTES, stderr_bytes, "stderr limit (bytes)", err);
    if (st)
        return st;
    st = set_limit(o, PSB__LIMIT_STDOUT_BYTES, stdout_bytes, "stdout limit (bytes)", err);
    return st ? st : set_limit(o, PSB__LIMIT_STDERR_BYTES, stderr_bytes, "stderr limit", err);
}

psb_status psb_exec_options_set_result_limit_bytes(psb_exec_options *o, uint64_t result_bytes,
                                                   psb_error *err) {
    return set_limit(o, PSB__LIMIT_RESULT_BYTES, result_bytes, "result limit (bytes)", err);
}

psb_status psb_exec_options_set_stdin(psb_exec_options *o, const void *data, size_t len,
                                      psb_error *err) {
    if (!o || (!data && len))
        return psb__err(err, PSB_EINVAL, "psb_exec_options_set_stdin: NULL argument");
    if (o->on_input)
        return psb__err(err, PSB_EINVAL,
                        "psb_exec_options_set_stdin: the options have an input callback; input() "
                        "reads either stdin or the callback");
    if (len > PSB__MAX_DATA_BYTES)
        return psb__err(err, PSB_EINVAL, "stdin data is %zu bytes, the maximum is %zu", len,
                        PSB__MAX_DATA_BYTES);
    psb__buf fresh = {0};
    if (psb__buf_append(&fresh, data, len))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    psb__buf_free(&o->stdin_data);
    o->stdin_data = fresh;
    o->has_stdin = true;
    return PSB_OK;
}

psb_status psb_exec_options_set_env(psb_exec_options *o, const char *name, const char *value,
                                    psb_error *err) {
    if (!o || !name || !value)
        return psb__err(err, PSB_EINVAL, "psb_exec_options_set_env: NULL argument");
    if (!psb__env_name_valid(name))
        return psb__err(err, PSB_EINVAL,
                        "invalid environment variable name '%.64s' (expected "
                        "[A-Za-z_][A-Za-z0-9_]*)",
                        name);
    if (!o->env && !(o->env = json_object()))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    size_t total = strlen(name) + strlen(value) + 2;
    const char *k;
    json_t *v;
    json_object_foreach(o->env, k, v) {
        if (strcmp(k, name) != 0)
            total += strlen(k) + json_string_length(v) + 2;
    }
    if (json_object_size(o->env) >= PSB__MAX_ENV_VARS && !json_object_get(o->env, name))
        return psb__err(err, PSB_EINVAL, "at most %d environment variables", PSB__MAX_ENV_VARS);
    if (total > PSB__MAX_ENV_BYTES)
        return psb__err(err, PSB_EINVAL, "the environment may hold at most %u bytes",
                        PSB__MAX_ENV_BYTES);
    if (!psb__utf8_valid(value, strlen(value)))
        return psb__err(err, PSB_EINVAL, "value of %s is not valid UTF-8", name);
    json_t *s = json_string(value);
    if (!s || json_object_set_new(o->env, name, s))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    return PSB_OK;
}

psb_status psb_exec_options_add_layer(psb_exec_options *o, const char *name, psb_error *err) {
    if (!o || !name)
        return psb__err(err, PSB_EINVAL, "psb_exec_options_add_layer: NULL argument");
    if (!psb__modlayer_name_valid(name))
        return psb__err(err, PSB_EINVAL,
                        "invalid layer name '%.80s': 1 to %d letters, digits, '_' and '-', "
                        "starting with a letter or digit",
                        name, PSB__MAX_MODLAYER_NAME);
    if (!o->layers && !(o->layers = json_array()))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    size_t i;
    json_t *e;
    json_array_foreach(o->layers, i, e) {
        if (strcmp(json_string_value(e), name) == 0)
            return PSB_OK;
    }
    if (json_array_size(o->layers) >= PSB__MAX_MODLAYERS)
        return psb__err(err, PSB_EINVAL, "at most %d module layers per execution",
                        PSB__MAX_MODLAYERS);
    if (json_array_append_new(o->layers, json_string(name)) != 0)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    return PSB_OK;
}

psb_status psb_exec_options_set_prelude(psb_exec_options *o, const char *code, size_t len,
                                        psb_error *err) {
    if (!o)
        return psb__err(err, PSB_EINVAL, "psb_exec_options_set_prelude: NULL options");
    psb_status st = psb__code_check(code, len, "prelude", err);
    if (st)
        return st;
    char *copy = malloc(len + 1);
    if (!copy)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    if (len)
        memcpy(copy, code, len);
    copy[len] = '\0';
    free(o->prelude);
    o->prelude = copy;
    return PSB_OK;
}

static psb_status add_rule(psb_exec_options *o, const char *module, bool allow, psb_error *err) {
    if (!o || !module)
        return psb__err(err, PSB_EINVAL, "import rule: NULL argument");
    if (!psb__module_name_valid(module))
        return psb__err(err, PSB_EINVAL, "'%.64s' is not a valid module name", module);
    if (!o->import_rules && !(o->import_rules = json_array()))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    if (json_array_size(o->import_rules) >= PSB__MAX_IMPORT_RULES)
        return psb__err(err, PSB_EINVAL, "at most %d import rules", PSB__MAX_IMPORT_RULES);
    json_t *rule = json_pack("{s:s,s:b}", "module", module, "allow", allow);
    if (!rule || json_array_append_new(o->import_rules, rule))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    return PSB_OK;
}

psb_status psb_exec_options_allow_import(psb_exec_options *o, const char *module, psb_error *err) {
    return add_rule(o, module, true, err);
}

psb_status psb_exec_options_deny_import(psb_exec_options *o, const char *module, psb_error *err) {
    return add_rule(o, module, false, err);
}

/*
 * 0 if v nests at most PSB__MAX_INPUTS_DEPTH containers below depth and,
 * with *values counted so far, holds at most PSB__MAX_INPUTS_VALUES values;
 * else 1 (too deep) or 2 (too many), found at the first value past a cap.
 */
static int inputs_bounded(const json_t *v, int depth, size_t *values) {
    if (++*values > PSB__MAX_INPUTS_VALUES)
        return 2;
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth >= PSB__MAX_INPUTS_DEPTH)
        return 1;
    const char *k;
    json_t *item;
    size_t i;
    int rc = 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if ((rc = inputs_bounded(item, depth + 1, values)) != 0)
                return rc;
        }
        return 0;
    }
    json_object_foreach((json_t *)(uintptr_t)v, k, item) {
        if ((rc = inputs_bounded(item, depth + 1, values)) != 0)
            return rc;
    }
    return 0;
}

psb_status psb_exec_options_set_inputs_json(psb_exec_options *o, const char *json, size_t len,
                                            psb_error *err) {
    if (!o || !json)
        return psb__err(err, PSB_EINVAL, "psb_exec_options_set_inputs_json: NULL argument");
    if (len > PSB__MAX_DATA_BYTES)
        return psb__err(err, PSB_EINVAL, "inputs are %zu bytes, the maximum is %zu", len,
                        PSB__MAX_DATA_BYTES);
    json_error_t jerr;
    json_t *v = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return psb__err(err, PSB_EINVAL, "inputs: invalid JSON at line %d column %d: %s", jerr.line,
                        jerr.column, jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return psb__err(err, PSB_EINVAL, "inputs must be a JSON object");
    }
    size_t values = 0;
    int over = inputs_bounded(v, 0, &values);
    if (over) {
        json_decref(v);
        return over == 1 ? psb__err(err, PSB_EINVAL, "inputs are nested deeper than %d levels",
                                    PSB__MAX_INPUTS_DEPTH)
                         : psb__err(err, PSB_EINVAL, "inputs hold more than %d values",
                                    PSB__MAX_INPUTS_VALUES);
    }
    json_decref(o->inputs);
    o->inputs = v;
    return PSB_OK;
}

psb_status psb_exec_options_add_file(psb_exec_options *o, const char *name, const void *data,
                                     size_t len, psb_error *err) {
    if (!o || !name || (!data && len))
        return psb__err(err, PSB_EINVAL, "psb_exec_options_add_file: NULL argument");
    if (!psb__file_name_valid(name))
        return psb__err(err, PSB_EINVAL,
                        "'%.64s' is not a valid file name (relative, no empty, '.' or '..' "
                        "parts)",
                        name);
    size_t slot = o->n_files, old = 0;
    for (size_t i = 0; i < o->n_files; i++)
        if (strcmp(o->files[i].name, name) == 0) {
            slot = i;
            old = o->files[i].data.len;
        }
    if (slot == o->n_files && o->n_files >= PSB__MAX_FILES)
        return psb__err(err, PSB_EINVAL, "at most %d input files", PSB__MAX_FILES);
    if (len > PSB__MAX_DATA_BYTES || o->files_bytes - old + len > PSB__MAX_DATA_BYTES)
        return psb__err(err, PSB_EINVAL, "input files may hold at most %zu bytes in all",
                        PSB__MAX_DATA_BYTES);
    psb__buf copy = {0};
    char *name_copy = strdup(name);
    if (!name_copy || psb__buf_append(&copy, data, len) != 0) {
        free(name_copy);
        psb__buf_free(&copy);
        return psb__err(err, PSB_ENOMEM, "out of memory");
    }
    if (slot == o->n_files) {
        struct psb__file *grown = realloc(o->files, (o->n_files + 1) * sizeof *grown);
        if (!grown) {
            free(name_copy);
            psb__buf_free(&copy);
            return psb__err(err, PSB_ENOMEM, "out of memory");
        }
        o->files = grown;
        o->n_files++;
    } else {
        free(o->files[slot].name);
        psb__buf_free(&o->files[slot].data);
    }
    o->files[slot].name = name_copy;
    o->files[slot].data = copy;
    o->files_bytes = o->files_bytes - old + len;
    return PSB_OK;
}

psb_status psb_exec_options_set_figures_limit_bytes(psb_exec_options *o, uint64_t figures_bytes,
                                                    psb_error *err) {
    return set_limit(o, PSB__LIMIT_FIGURES_BYTES, figures_bytes, "figures limit (bytes)", err);
}

psb_status psb_exec_options_set_display_limit_bytes(psb_exec_options *o, uint64_t bundle_bytes,
                                                    psb_error *err) {
    return set_limit(o, PSB__LIMIT_DISPLAY_BYTES, bundle_bytes, "display limit (bytes)", err);
}

psb_status psb_exec_options_set_displays_limit_bytes(psb_exec_options *o, uint64_t total_bytes,
                                                     psb_error *err) {
    return set_limit(o, PSB__LIMIT_DISPLAYS_BYTES, total_bytes, "displays limit (bytes)", err);
}

psb_status psb_exec_options_set_session_lifetime_s(psb_exec_options *o, uint64_t lifetime_s,
                                                   psb_error *err) {
    return set_limit(o, PSB__LIMIT_SESSION_LIFETIME_S, lifetime_s, "session lifetime (s)", err);
}

psb_status psb_exec_options_set_session_idle_s(psb_exec_options *o, uint64_t idle_s,
                                               psb_error *err) {
    return set_limit(o, PSB__LIMIT_SESSION_IDLE_S, idle_s, "session idle time (s)", err);
}

psb_status psb_exec_options_set_max_snapshots(psb_exec_options *o, uint64_t count, psb_error *err) {
    return set_limit(o, PSB__LIMIT_SNAPSHOTS, count, "snapshots", err);
}

psb_status psb_exec_options_set_files_limit_bytes(psb_exec_options *o, uint64_t files_bytes,
                                                  psb_error *err) {
    return set_limit(o, PSB__LIMIT_FILES_BYTES, files_bytes, "files limit (bytes)", err);
}
