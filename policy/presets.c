/*
 * policy/presets.c - the built-in policies. Each is a policy file in
 * policy/presets/ (a starting point users can copy), embedded at build
 * time, so presets and users' files go through one parser.
 */
#include <string.h>

#include "policy/policy.h"
#include "psb_presets_sources.h"

const char *psb__preset_json(const char *name) {
    for (size_t i = 0; psb_presets_sources[i].name; i++)
        if (strcmp(psb_presets_sources[i].name, name) == 0)
            return (const char *)psb_presets_sources[i].source;
    return NULL;
}
