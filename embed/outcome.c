/*
 * embed/outcome.c - psb_outcome: what one execution did, built from the
 * helper's reply, with accessors and the --json rendering.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/internal.h"

static psb_error_kind kind_from_name(const char *name) {
    for (int k = 0; name && k < PSB__KIND_COUNT; k++)
        if (strcmp(psb_error_kind_name((psb_error_kind)k), name) == 0)
            return (psb_error_kind)k;
    return PSB_KIND_INTERNAL;
}

/* strdup of a JSON string member, NULL when absent; *failed on ENOMEM. */
static char *dup_member(const json_t *obj, const char *key, bool *failed) {
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *failed = true;
    return copy;
}

static uint64_t stat_member(const json_t *stats, const char *key) {
    json_int_t v = json_integer_value(json_object_get(stats, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* Decodes the reply's "figures" array into o->figures. false on bad data/ENOMEM. */
static bool take_figures(psb_outcome *o, const json_t *reply) {
    const json_t *figs = json_object_get(reply, "figures");
    o->figures_trunc = json_is_true(json_object_get(reply, "figures_truncated"));
    size_t n = json_array_size(figs);
    if (!n)
        return true;
    o->figures = calloc(n, sizeof *o->figures);
    if (!o->figures)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(figs, i);
        const json_t *b64 = json_object_get(f, "base64");
        struct psb__figure *dst = &o->figures[o->n_figures];
        /* The child wrote these: a malformed entry is dropped, not trusted. */
        if (!json_is_string(b64) ||
            psb__base64_decode(json_string_value(b64), json_string_length(b64), &dst->data)) {
            o->figures_trunc = true;
            continue;
        }
        o->n_figures++;
        snprintf(dst->mime, sizeof dst->mime, "%s",
                 json_string_value(json_object_get(f, "mime"))
                     ? json_string_value(json_object_get(f, "mime"))
                     : "image/png");
        dst->width = (unsigned)json_integer_value(json_object_get(f, "width"));
        dst->height = (unsigned)json_integer_value(json_object_get(f, "height"));
    }
    return true;
}

psb_outcome *psb__outcome_from_reply(const json_t *reply, psb__buf *result, psb__buf *out,
                                     psb__buf *err, struct psb__file *files, size_t n_files) {
    psb_outcome *o = calloc(1, sizeof *o);
    bool failed = false;
    if (!o) {
        psb__files_free(files, n_files);
        return NULL;
    }
    o->files = files;
    o->n_files = n_files;
    if (!take_figures(o, reply))
        failed = true;
    const char *status = json_string_value(json_object_get(reply, "status"));
    o->ok = status && strcmp(status, "ok") == 0;
    const json_t *e = json_object_get(reply, "error");
    if (!o->ok) {
        o->kind = kind_from_name(json_string_value(json_object_get(e, "kind")));
        if (o->kind == PSB_KIND_NONE)
            o->kind = PSB_KIND_INTERNAL;
        o->type = dup_member(e, "type", &failed);
        o->message = dup_member(e, "message", &failed);
        o->traceback = dup_member(e, "traceback", &failed);
        o->module = dup_member(e, "module", &failed);
        o->event = dup_member(e, "event", &failed);
    }
    o->result_json = (o->ok && result->len) ? psb__buf_steal(result) : strdup("null");
    if (!o->result_json)
        failed = true;
    o->out = *out;
    o->err = *err;
    *out = (psb__buf){0};
    *err = (psb__buf){0};
    o->out_trunc = json_is_true(json_object_get(reply, "stdout_truncated"));
    o->err_trunc = json_is_true(json_object_get(reply, "stderr_truncated"));
    const json_t *stats = json_object_get(reply, "stats");
    o->stats.wall_ms = stat_member(stats, "wall_ms");
    o->stats.cpu_ms = stat_member(stats, "cpu_ms");
    o->stats.peak_rss_kib = stat_member(stats, "peak_rss_kib");
    if (failed) {
        psb_outcome_free(o);
        return NULL;
    }
    return o;
}

void psb_outcome_free(psb_outcome *o) {
    if (!o)
        return;
    free(o->type);
    free(o->message);
    free(o->traceback);
    free(o->module);
    free(o->event);
    free(o->result_json);
    free(o->json);
    for (size_t i = 0; i < o->n_figures; i++)
        psb__buf_free(&o->figures[i].data);
    free(o->figures);
    psb__files_free(o->files, o->n_files);
    psb__buf_free(&o->out);
    psb__buf_free(&o->err);
    free(o);
}

int psb_outcome_ok(const psb_outcome *o) {
    return o && o->ok;
}

psb_error_kind psb_outcome_error_kind(const psb_outcome *o) {
    return o ? o->kind : PSB_KIND_INTERNAL;
}

const char *psb_outcome_error_type(const psb_outcome *o) {
    return o ? o->type : NULL;
}
const char *psb_outcome_error_message(const psb_outcome *o) {
    return o ? o->message : NULL;
}
const char *psb_outcome_error_traceback(const psb_outcome *o) {
    return o ? o->traceback : NULL;
}
const char *psb_outcome_error_module(const psb_outcome *o) {
    return o ? o->module : NULL;
}
const char *psb_outcome_error_event(const psb_outcome *o) {
    return o ? o->event : NULL;
}

const char *psb_outcome_result_json(const psb_outcome *o) {
    return o && o->result_json ? o->result_json : "null";
}

const char *psb_outcome_stdout(const psb_outcome *o, size_t *ret_len, int *ret_truncated) {
    if (ret_len)
        *ret_len = o ? o->out.len : 0;
    if (ret_truncated)
        *ret_truncated = o && o->out_trunc;
    return o && o->out.data ? o->out.data : "";
}

const char *psb_outcome_stderr(const psb_outcome *o, size_t *ret_len, int *ret_truncated) {
    if (ret_len)
        *ret_len = o ? o->err.len : 0;
    if (ret_truncated)
        *ret_truncated = o && o->err_trunc;
    return o && o->err.data ? o->err.data : "";
}

size_t psb_outcome_figure_count(const psb_outcome *o) {
    return o ? o->n_figures : 0;
}

int psb_outcome_figure(const psb_outcome *o, size_t index, const void **ret_data, size_t *ret_len,
                       const char **ret_mime, unsigned *ret_width, unsigned *ret_height) {
    if (!o || index >= o->n_figures)
        return -1;
    const struct psb__figure *f = &o->figures[index];
    if (ret_data)
        *ret_data = f->data.data;
    if (ret_len)
        *ret_len = f->data.len;
    if (ret_mime)
        *ret_mime = f->mime;
    if (ret_width)
        *ret_width = f->width;
    if (ret_height)
        *ret_height = f->height;
    return 0;
}

int psb_outcome_figures_truncated(const psb_outcome *o) {
    return o && o->figures_trunc;
}

size_t psb_outcome_file_count(const psb_outcome *o) {
    return o ? o->n_files : 0;
}

int psb_outcome_file(const psb_outcome *o, size_t index, const char **ret_name,
                     const void **ret_data, size_t *ret_len) {
    if (!o || index >= o->n_files)
        return -1;
    if (ret_name)
        *ret_name = o->files[index].name;
    if (ret_data)
        *ret_data = o->files[index].data.data ? o->files[index].data.data : "";
    if (ret_len)
        *ret_len = o->files[index].data.len;
    return 0;
}

/* [{"mime","width","height","base64"}] and [{"name","size","base64"}]. */
static json_t *media_json(const psb_outcome *o, bool want_files) {
    json_t *arr = json_array();
    size_t n = want_files ? o->n_files : o->n_figures;
    for (size_t i = 0; arr && i < n; i++) {
        const psb__buf *data = want_files ? &o->files[i].data : &o->figures[i].data;
        char *b64 = psb__base64_encode(data->data ? data->data : "", data->len);
        json_t *item = !b64         ? NULL
                       : want_files ? json_pack("{s:s,s:I,s:s}", "name", o->files[i].name, "size",
                                                (json_int_t)data->len, "base64", b64)
                                    : json_pack("{s:s,s:I,s:I,s:s}", "mime", o->figures[i].mime,
                                                "width", (json_int_t)o->figures[i].width, "height",
                                                (json_int_t)o->figures[i].height, "base64", b64);
        free(b64);
        if (!item || json_array_append_new(arr, item) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

void psb_outcome_stats(const psb_outcome *o, psb_stats *ret_stats) {
    if (!ret_stats)
        return;
    if (!o) {
        memset(ret_stats, 0, sizeof *ret_stats);
        return;
    }
    *ret_stats = o->stats;
}

const char *psb_outcome_json(const psb_outcome *o_const) {
    psb_outcome *o = (psb_outcome *)(uintptr_t)o_const;
    if (!o)
        return NULL;
    if (o->json)
        return o->json;
    json_t *doc = NULL, *result = NULL, *error = NULL;
    result = json_loads(o->result_json ? o->result_json : "null", JSON_DECODE_ANY, NULL);
    if (!o->ok) {
        error = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?}", "kind", psb_error_kind_name(o->kind),
                          "type", o->type, "message", o->message, "traceback", o->traceback,
                          "module", o->module, "event", o->event);
        if (!error)
            goto out;
    }
    doc = json_pack("{s:s,s:O?,s:o,s:b,s:o,s:b,s:O?,s:{s:I,s:I,s:I}}", "status",
                    o->ok ? "ok" : "error", "result", result, "stdout",
                    psb__json_lossy_string(o->out.data ? o->out.data : "", o->out.len),
                    "stdout_truncated", o->out_trunc, "stderr",
                    psb__json_lossy_string(o->err.data ? o->err.data : "", o->err.len),
                    "stderr_truncated", o->err_trunc, "error", error, "stats", "wall_ms",
                    (json_int_t)o->stats.wall_ms, "cpu_ms", (json_int_t)o->stats.cpu_ms,
                    "peak_rss_kib", (json_int_t)o->stats.peak_rss_kib);
    json_t *figs = doc ? media_json(o, false) : NULL;
    json_t *files = doc ? media_json(o, true) : NULL;
    if (doc && figs && files && json_object_set_new(doc, "figures", figs) == 0 &&
        json_object_set_new(doc, "figures_truncated", json_boolean(o->figures_trunc)) == 0 &&
        json_object_set_new(doc, "files", files) == 0)
        o->json = psb__json_dumps(doc);
    else if (doc) {
        json_decref(figs);
        json_decref(files);
    }
out:
    json_decref(doc);
    json_decref(result);
    json_decref(error);
    return o->json;
}
