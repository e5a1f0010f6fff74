/*
 * policy/limits.c - one table of every user-controlled limit: its key,
 * range and default, so the API, policy files and the CLI agree.
 */
#include <string.h>

#include "policy/policy.h"

static const struct {
    const char *key;
    uint64_t min, max, def;
} table[PSB__LIMIT_COUNT] = {
#define PSB__LIMIT_ROW(id, key, min, max, def) {key, min, max, def},
    PSB__LIMIT_MAP(PSB__LIMIT_ROW)
#undef PSB__LIMIT_ROW
};

const char *psb__limit_key(enum psb__limit_id id) {
    return table[id].key;
}

void psb__limits_default(psb__limits *limits) {
    for (int i = 0; i < PSB__LIMIT_COUNT; i++)
        limits->v[i] = table[i].def;
}

psb_status psb__limit_check(enum psb__limit_id id, uint64_t value, const char *what,
                            psb_error *err) {
    if (value < table[id].min || value > table[id].max)
        return psb__err(err, PSB_EINVAL, "%s must be between %llu and %llu, got %llu", what,
                        (unsigned long long)table[id].min, (unsigned long long)table[id].max,
                        (unsigned long long)value);
    return PSB_OK;
}

int psb__limit_find(const char *key) {
    for (int i = 0; i < PSB__LIMIT_COUNT; i++)
        if (strcmp(key, table[i].key) == 0)
            return i;
    return -1;
}
