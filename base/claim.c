/*
 * base/claim.c - the REPLY frame a child sends: checked and decoded into a
 * struct in one place. The child is hostile; nothing here trusts a type.
 */
#include <string.h>

#include "base/wire.h"

/* A string member of obj, or NULL when absent or null; *bad when another type. */
static const char *member(const json_t *obj, const char *key, bool *bad) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v))
        *bad = true;
    return json_string_value(v);
}

int psb__claim_decode(const char *text, size_t len, json_t **ret_doc, struct psb__claim *ret) {
    json_t *doc = json_loadb(text, len, 0, NULL);
    const char *status = json_string_value(json_object_get(doc, PSB__KEY_STATUS));
    const json_t *e = json_object_get(doc, PSB__KEY_ERROR);
    const json_t *trunc = json_object_get(doc, PSB__KEY_FIGURES_TRUNCATED);
    const json_t *dtrunc = json_object_get(doc, PSB__KEY_DISPLAYS_TRUNCATED);
    struct psb__claim c = {.ok = status && strcmp(status, "ok") == 0};
    bool bad = !json_is_object(doc) || !status || (trunc && !json_is_boolean(trunc)) ||
               (dtrunc && !json_is_boolean(dtrunc));
    if (!bad && !c.ok) {
        int kind = psb__kind_find(json_string_value(json_object_get(e, PSB__KEY_KIND)));
        bad = strcmp(status, "error") != 0 || !json_is_object(e) || kind <= PSB_KIND_NONE;
        c.kind = kind > PSB_KIND_NONE ? (psb_error_kind)kind : PSB_KIND_INTERNAL;
        c.type = member(e, PSB__KEY_TYPE, &bad);
        c.message = member(e, PSB__KEY_MESSAGE, &bad);
        c.traceback = member(e, PSB__KEY_TRACEBACK, &bad);
        c.module = member(e, PSB__KEY_MODULE, &bad);
        c.event = member(e, PSB__KEY_EVENT, &bad);
    }
    if (bad) {
        json_decref(doc);
        return -1;
    }
    c.figures_truncated = json_is_true(trunc);
    c.displays_truncated = json_is_true(dtrunc);
    *ret_doc = doc;
    *ret = c;
    return 0;
}
