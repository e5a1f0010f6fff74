/*
 * host/config.c - psb_config: the policy and settings a sandbox is created
 * from. Setters validate fully before changing anything.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"

const char *psb_version(void) {
    return PSB_VERSION_STRING;
}

psb_config *psb_config_new(psb_error *err) {
    psb_config *config = calloc(1, sizeof *config);
    if (!config) {
        psb__err(err, PSB_ENOMEM, "out of memory");
        return NULL;
    }
    config->max_concurrency = 16;
    if (psb__policy_load("default", &config->policy, err) != PSB_OK) {
        free(config);
        return NULL;
    }
    return config;
}

void psb_config_free(psb_config *config) {
    if (!config)
        return;
    psb__policy_clear(&config->policy);
    free(config->helper_path);
    free(config->preload);
    free(config->cache_dir);
    free(config->layers_dir);
    free(config->python);
    free(config);
}

psb_status psb_config_set_mode(psb_config *config, psb_mode mode, psb_error *err) {
    if (!config)
        return psb__err(err, PSB_EINVAL, "psb_config_set_mode: NULL config");
    if (mode != PSB_MODE_WARM && mode != PSB_MODE_COLD)
        return psb__err(err, PSB_EINVAL, "unknown mode %d", (int)mode);
    config->mode = mode;
    return PSB_OK;
}

psb_status psb_config_set_early_start(psb_config *config, int enabled, psb_error *err) {
    if (!config)
        return psb__err(err, PSB_EINVAL, "psb_config_set_early_start: NULL config");
    config->wait_warm = !enabled;
    return PSB_OK;
}

psb_status psb_config_set_cache_dir(psb_config *config, const char *path, psb_error *err) {
    if (!config || (path && path[0] != '/'))
        return psb__err(err, PSB_EINVAL, "the cache dir must be an absolute path");
    char *copy = path ? strdup(path) : NULL;
    if (path && !copy)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    free(config->cache_dir);
    config->cache_dir = copy;
    return PSB_OK;
}

psb_status psb_config_set_layers_dir(psb_config *config, const char *path, psb_error *err) {
    if (!config || (path && (path[0] != '/' || strlen(path) >= PSB__LAYERS_ROOT_MAX)))
        return psb__err(err, PSB_EINVAL, "the layers dir must be an absolute path");
    char *copy = path ? strdup(path) : NULL;
    if (path && !copy)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    free(config->layers_dir);
    config->layers_dir = copy;
    return PSB_OK;
}

psb_status psb_config_set_python(psb_config *config, const char *path, psb_error *err) {
    struct stat st;
    if (!config)
        return psb__err(err, PSB_EINVAL, "psb_config_set_python: NULL config");
    if (path && (path[0] != '/' || strlen(path) >= PATH_MAX))
        return psb__err(err, PSB_EINVAL, "the interpreter must be an absolute path");
    if (path && (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) ||
                 access(path, X_OK) != 0))
        return psb__err(err, PSB_EINVAL, "the interpreter %s is not an executable file", path);
    char *copy = path ? strdup(path) : NULL;
    if (path && !copy)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    free(config->python);
    config->python = copy;
    return PSB_OK;
}

psb_status psb_config_set_preload(psb_config *config, const char *const *modules, size_t count,
                                  psb_error *err) {
    if (!config || (count && !modules))
        return psb__err(err, PSB_EINVAL, "psb_config_set_preload: NULL argument");
    if (count > 256)
        return psb__err(err, PSB_EINVAL, "at most 256 preload modules, got %zu", count);
    psb__buf list = {0};
    for (size_t i = 0; i < count; i++) {
        if (!modules[i] || !psb__module_name_valid(modules[i])) {
            psb__buf_free(&list);
            return psb__err(err, PSB_EINVAL, "preload[%zu]: '%.64s' is not a valid module name", i,
                            modules[i] ? modules[i] : "(null)");
        }
        if ((i && psb__buf_append(&list, ",", 1)) ||
            psb__buf_append(&list, modules[i], strlen(modules[i]))) {
            psb__buf_free(&list);
            return psb__err(err, PSB_ENOMEM, "out of memory");
        }
    }
    char *text = psb__buf_steal(&list);
    if (!text)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    free(config->preload);
    config->preload = text;
    return PSB_OK;
}

static psb_status replace_policy(psb_config *config, psb__policy *fresh) {
    psb__policy_clear(&config->policy);
    config->policy = *fresh;
    return PSB_OK;
}

psb_status psb_config_set_policy(psb_config *config, const char *name_or_path, psb_error *err) {
    if (!config || !name_or_path)
        return psb__err(err, PSB_EINVAL, "psb_config_set_policy: NULL argument");
    psb__policy fresh;
    psb_status st = psb__policy_load(name_or_path, &fresh, err);
    return st ? st : replace_policy(config, &fresh);
}

psb_status psb_config_set_policy_json(psb_config *config, const char *json, psb_error *err) {
    if (!config || !json)
        return psb__err(err, PSB_EINVAL, "psb_config_set_policy_json: NULL argument");
    psb__policy fresh;
    psb_status st = psb__policy_parse(json, "json", &fresh, err);
    return st ? st : replace_policy(config, &fresh);
}

char *psb_config_policy_json(const psb_config *config) {
    return config && config->policy.doc ? psb__json_dumps(config->policy.doc) : NULL;
}

psb_status psb_config_set_helper_path(psb_config *config, const char *path, psb_error *err) {
    if (!config || !path || path[0] != '/')
        return psb__err(err, PSB_EINVAL, "helper path must be an absolute path");
    char *copy = strdup(path);
    if (!copy)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    free(config->helper_path);
    config->helper_path = copy;
    return PSB_OK;
}

psb_status psb_config_set_max_concurrency(psb_config *config, unsigned count, psb_error *err) {
    if (!config)
        return psb__err(err, PSB_EINVAL, "psb_config_set_max_concurrency: NULL config");
    if (count < 1 || count > 1024)
        return psb__err(err, PSB_EINVAL, "max concurrency must be between 1 and 1024, got %u",
                        count);
    config->max_concurrency = count;
    return PSB_OK;
}

psb_status psb_config_set_diagnostic_layers(psb_config *config, unsigned layers, psb_error *err) {
    if (!config)
        return psb__err(err, PSB_EINVAL, "psb_config_set_diagnostic_layers: NULL config");
    if (layers & ~PSB_LAYERS_ALL)
        return psb__err(err, PSB_EINVAL, "unknown layer bits 0x%x", layers & ~PSB_LAYERS_ALL);
    config->test_layers = layers ? layers : PSB__LAYERS_NONE;
    return PSB_OK;
}

unsigned psb_config_required_layers(const psb_config *config) {
    unsigned required = 0;
    size_t i;
    json_t *e;
    if (!config)
        return 0;
    json_array_foreach(json_object_get(config->policy.doc, "require"), i, e) {
        required |= psb__layer_find(json_string_value(e));
    }
    return required;
}
