/*
 * embed/config.c - psb_config: the policy and settings a sandbox is created
 * from. Setters validate fully before changing anything.
 */
#include <stdlib.h>
#include <string.h>

#include "embed/internal.h"

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
    free(config);
}

static psb_status replace_policy(psb_config *config, psb__policy *fresh) {
    psb__policy_clear(&config->policy);
    config->policy = *fresh;
    return PSB_OK;
}

psb_status psb_config_set_policy(psb_config *config, const char *name_or_path,
                                 psb_error *err) {
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
