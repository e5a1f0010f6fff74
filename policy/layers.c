/*
 * policy/layers.c - names of the confinement layers, shared by policy
 * files ("require"), the doctor and the test switches.
 */
#include <string.h>

#include "policy/policy.h"

static const struct {
    unsigned layer;
    const char *name;
} names[] = {
    {PSB_LAYER_SECCOMP, "seccomp"},       {PSB_LAYER_LANDLOCK, "landlock"},
    {PSB_LAYER_NAMESPACES, "namespaces"}, {PSB_LAYER_UNPRIVILEGED, "unprivileged"},
    {PSB_LAYER_HOOKS, "hooks"},
};

const char *psb_layer_name(unsigned layer) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].layer == layer)
            return names[i].name;
    return NULL;
}

unsigned psb__layer_find(const char *name) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].layer;
    return 0;
}
