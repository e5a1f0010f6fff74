/*
 * host/display.c - an outcome's display bundles: taking a checked DISPLAY
 * frame, the accessors, and their JSON text. Values of JSON types are
 * spliced in as the checked text they arrived as, never parsed into a tree
 * (a bundle is the child's choice, up to its cap).
 */
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

int psb__display_take(const psb__buf *payload, struct psb__display *ret) {
    struct psb__mime_entry e[PSB__MAX_MIMES];
    size_t n = 0, size = 0;
    bool result;
    if (psb__display_frame_parse(payload, &result, e, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        size += strlen(e[i].mime) + 1 + e[i].len + 1;
    char *store = malloc(size ? size : 1), *p = store;
    if (!store)
        return -1;
    memset(ret, 0, sizeof *ret);
    for (size_t i = 0; i < n; i++) {
        size_t m = strlen(e[i].mime) + 1;
        memcpy(p, e[i].mime, m);
        ret->e[i].mime = p;
        p += m;
        memcpy(p, e[i].data, e[i].len);
        p[e[i].len] = '\0';
        ret->e[i].data = p;
        ret->e[i].len = e[i].len;
        p += e[i].len + 1;
    }
    ret->result = result;
    ret->n = n;
    ret->store = store;
    return 0;
}

void psb__displays_free(struct psb__display *d, size_t n) {
    for (size_t i = 0; d && i < n; i++)
        free(d[i].store);
    free(d);
}

size_t psb_outcome_display_count(const psb_outcome *o) {
    return o ? o->n_displays : 0;
}

int psb_outcome_display(const psb_outcome *o, size_t index, const char **ret_type,
                        size_t *ret_entries) {
    if (!o || index >= o->n_displays)
        return -1;
    if (ret_type)
        *ret_type = o->displays[index].result ? "execute_result" : "display_data";
    if (ret_entries)
        *ret_entries = o->displays[index].n;
    return 0;
}

int psb_outcome_display_entry(const psb_outcome *o, size_t index, size_t entry,
                              const char **ret_mime, const char **ret_data, size_t *ret_len) {
    if (!o || index >= o->n_displays || entry >= o->displays[index].n)
        return -1;
    const struct psb__mime_entry *e = &o->displays[index].e[entry];
    if (ret_mime)
        *ret_mime = e->mime;
    if (ret_data)
        *ret_data = e->data;
    if (ret_len)
        *ret_len = e->len;
    return 0;
}

const char *psb_outcome_display_find(const psb_outcome *o, size_t index, const char *mime,
                                     size_t *ret_len) {
    if (!o || !mime || index >= o->n_displays)
        return NULL;
    const struct psb__display *d = &o->displays[index];
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].mime, mime) == 0) {
            if (ret_len)
                *ret_len = d->e[i].len;
            return d->e[i].data;
        }
    return NULL;
}

int psb_outcome_displays_truncated(const psb_outcome *o) {
    return o && o->displays_trunc;
}

/* Appends s as a JSON string. 0 or -1. */
static int append_string(psb__buf *b, const char *s, size_t len) {
    json_t *j = json_stringn(s, len);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    int rc = text ? psb__buf_append(b, text, strlen(text)) : -1;
    free(text);
    json_decref(j);
    return rc;
}

char *psb__displays_json(const psb_outcome *o) {
    psb__buf b = {0};
    int rc = psb__buf_append(&b, "[", 1);
    for (size_t i = 0; rc == 0 && i < o->n_displays; i++) {
        const struct psb__display *d = &o->displays[i];
        const char *head = d->result ? "{\"type\":\"execute_result\",\"data\":{"
                                     : "{\"type\":\"display_data\",\"data\":{";
        rc = psb__buf_append(&b, i ? "," : "", i ? 1 : 0);
        rc = rc ? rc : psb__buf_append(&b, head, strlen(head));
        for (size_t k = 0; rc == 0 && k < d->n; k++) {
            const struct psb__mime_entry *e = &d->e[k];
            rc = psb__buf_append(&b, k ? "," : "", k ? 1 : 0);
            rc = rc ? rc : append_string(&b, e->mime, strlen(e->mime));
            rc = rc ? rc : psb__buf_append(&b, ":", 1);
            if (rc == 0)
                rc = psb__mime_is_json(e->mime) ? psb__buf_append(&b, e->data, e->len)
                                                : append_string(&b, e->data, e->len);
        }
        rc = rc ? rc : psb__buf_append(&b, "}}", 2);
    }
    rc = rc ? rc : psb__buf_append(&b, "]", 1);
    if (rc != 0) {
        psb__buf_free(&b);
        return NULL;
    }
    return psb__buf_steal(&b);
}
