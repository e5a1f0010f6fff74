/*
 * host/outcome.c - psb_outcome: what one execution did (built in exec.c),
 * its accessors and the --json rendering.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

psb_outcome *psb__outcome_error(psb_error_kind kind, const char *message) {
    psb_outcome *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->kind = kind;
    o->message = strdup(message);
    o->result_json = strdup("null");
    if (!o->message || !o->result_json) {
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
    psb__displays_free(o->displays, o->n_displays);
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

/*
 * The result text was checked when it arrived (psb__json_text_valid) and is
 * copied in as it is: parsing it again would cost the host ~40 bytes per
 * value of a result the child chose.
 */
const char *psb_outcome_json(const psb_outcome *o_const) {
    psb_outcome *o = (psb_outcome *)(uintptr_t)o_const;
    if (!o)
        return NULL;
    if (o->json)
        return o->json;
    json_t *doc = NULL, *error = NULL;
    char *rest = NULL, *displays = psb__displays_json(o);
    if (!displays)
        return NULL;
    if (!o->ok) {
        error = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?}", "kind", psb_error_kind_name(o->kind),
                          "type", o->type, "message", o->message, "traceback", o->traceback,
                          "module", o->module, "event", o->event);
        if (!error)
            goto out;
    }
    /* Everything after "status" and "result", in the documented order. */
    doc = json_pack("{s:o,s:b,s:o,s:b,s:O?,s:{s:I,s:I,s:I,s:I,s:s}}", "stdout",
                    psb__json_lossy_string(o->out.data ? o->out.data : "", o->out.len),
                    "stdout_truncated", o->out_trunc, "stderr",
                    psb__json_lossy_string(o->err.data ? o->err.data : "", o->err.len),
                    "stderr_truncated", o->err_trunc, "error", error, "stats", "wall_ms",
                    (json_int_t)o->stats.wall_ms, "cpu_ms", (json_int_t)o->stats.cpu_ms,
                    "peak_rss_kib", (json_int_t)o->stats.peak_rss_kib, "peak_memory_kib",
                    (json_int_t)o->stats.peak_memory_kib, "start", psb_start_name(o->stats.start));
    json_t *figs = doc ? media_json(o, false) : NULL;
    json_t *files = doc ? media_json(o, true) : NULL;
    if (!doc || !figs || !files || json_object_set_new(doc, "figures", figs) != 0 ||
        json_object_set_new(doc, "figures_truncated", json_boolean(o->figures_trunc)) != 0 ||
        json_object_set_new(doc, "files", files) != 0 ||
        json_object_set_new(doc, "displays_truncated", json_boolean(o->displays_trunc)) != 0) {
        if (doc) {
            json_decref(figs);
            json_decref(files);
        }
        goto out;
    }
    rest = psb__json_dumps(doc); /* "{...}": spliced in after its "{" */
    const char *result = o->result_json ? o->result_json : "null";
    const char *status =
        o->ok ? "{\"status\":\"ok\",\"result\":" : "{\"status\":\"error\",\"result\":";
    static const char key[] = ",\"displays\":";
    size_t a = strlen(status), b = strlen(result), c = rest ? strlen(rest) : 0;
    size_t k = sizeof key - 1, d = strlen(displays);
    /* status, result, the rest without its closing brace, then the displays. */
    if (rest && c >= 2 && (o->json = malloc(a + b + 1 + (c - 2) + k + d + 2))) {
        char *p = o->json;
        /* Pieces of one text: the last copy writes its terminator. */
        memcpy(p, status, a); /* NOLINT(bugprone-not-null-terminated-result) */
        p += a;
        memcpy(p, result, b); /* NOLINT(bugprone-not-null-terminated-result) */
        p += b;
        *p++ = ',';
        memcpy(p, rest + 1, c - 2); /* NOLINT(bugprone-not-null-terminated-result) */
        p += c - 2;
        memcpy(p, key, k); /* NOLINT(bugprone-not-null-terminated-result) */
        p += k;
        memcpy(p, displays, d); /* NOLINT(bugprone-not-null-terminated-result) */
        p += d;
        memcpy(p, "}", 2);
    }
out:
    free(displays);
    free(rest);
    json_decref(doc);
    json_decref(error);
    return o->json;
}
