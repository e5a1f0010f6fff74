/*
 * view.c - an outcome as `run` reports it, wherever it came from: the
 * library's psb_outcome (a local run) or the JSON outcome a server sent
 * (run --connect). The printer and the writers of files and figures read
 * only this, so both paths report the same way. What a server sent is
 * checked like any input: a field of the wrong type is a protocol error.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"

/* The blobs of an outcome: pointers into it, nothing copied. */
static int blobs_from_outcome(struct cli_view *v, const psb_outcome *o) {
    v->n_figures = psb_outcome_figure_count(o);
    v->n_files = psb_outcome_file_count(o);
    v->figures = calloc(v->n_figures + 1, sizeof *v->figures);
    v->files = calloc(v->n_files + 1, sizeof *v->files);
    if (!v->figures || !v->files)
        return -1;
    for (size_t i = 0; i < v->n_figures; i++)
        psb_outcome_figure(o, i, &v->figures[i].data, &v->figures[i].len, NULL, NULL, NULL);
    for (size_t i = 0; i < v->n_files; i++)
        psb_outcome_file(o, i, &v->files[i].name, &v->files[i].data, &v->files[i].len);
    size_t n = psb_outcome_display_count(o);
    if (!(v->shown = calloc(n + 1, sizeof *v->shown)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *type = NULL;
        psb_outcome_display(o, i, &type, NULL);
        if (strcmp(type, "display_data") == 0)
            v->shown[v->n_shown++] = psb_outcome_display_find(o, i, "text/plain", NULL);
    }
    return 0;
}

/* The text/plain of each display_data bundle a server sent (absent: none). */
static int shown_from_json(const json_t *arr, struct cli_view *v) {
    size_t i;
    json_t *item;
    if (arr && !json_is_array(arr))
        return -1;
    if (!(v->shown = calloc(json_array_size(arr) + 1, sizeof *v->shown)))
        return -1;
    json_array_foreach(arr, i, item) {
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *text =
            json_string_value(json_object_get(json_object_get(item, "data"), "text/plain"));
        if (!type || !text)
            return -1;
        if (strcmp(type, "display_data") == 0)
            v->shown[v->n_shown++] = text;
    }
    return 0;
}

int cli_view_from_outcome(struct cli_view *v, const psb_outcome *o) {
    int trunc;
    memset(v, 0, sizeof *v);
    v->ok = psb_outcome_ok(o);
    v->kind = v->ok ? PSB_KIND_NONE : psb_outcome_error_kind(o);
    v->type = psb_outcome_error_type(o);
    v->message = psb_outcome_error_message(o);
    v->traceback = psb_outcome_error_traceback(o);
    v->module = psb_outcome_error_module(o);
    v->event = psb_outcome_error_event(o);
    v->result_json = psb_outcome_result_json(o);
    v->out = psb_outcome_stdout(o, &v->out_len, &trunc);
    v->out_trunc = trunc;
    v->err = psb_outcome_stderr(o, &v->err_len, &trunc);
    v->err_trunc = trunc;
    v->json_text = psb_outcome_json(o);
    return v->json_text && v->result_json ? blobs_from_outcome(v, o) : -1;
}

/* The string member key of obj, or NULL when absent or null; *bad when of another type. */
static const char *str(const json_t *obj, const char *key, bool *bad) {
    json_t *s = json_object_get(obj, key);
    if (s && !json_is_string(s) && !json_is_null(s))
        *bad = true;
    return json_string_value(s);
}

/* The base64 of each item of arr (under key), decoded into blobs. */
static int blobs_from_json(const json_t *arr, bool files, struct cli_blob **ret, size_t *ret_n) {
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0, i;
    json_t *item;
    *ret_n = 0;
    if (!json_is_array(arr) || !(*ret = calloc(n + 1, sizeof **ret)))
        return -1;
    json_array_foreach(arr, i, item) {
        const char *b64 = json_string_value(json_object_get(item, "base64"));
        const char *name = json_string_value(json_object_get(item, "name"));
        psb__buf data = {0};
        if (!b64 || (files && !name) || psb__base64_decode(b64, strlen(b64), &data) != 0)
            return -1;
        (*ret)[i] = (struct cli_blob){.name = name, .len = data.len, .owned = data.data};
        (*ret)[i].data = data.data ? data.data : "";
        *ret_n = i + 1;
    }
    return 0;
}

int cli_view_from_json(struct cli_view *v, json_t *doc) {
    bool bad = false;
    memset(v, 0, sizeof *v);
    v->doc = json_incref(doc);
    const char *status = str(doc, "status", &bad);
    json_t *error = json_object_get(doc, "error"), *result = json_object_get(doc, "result");
    if (!json_is_object(doc) || !status || !result ||
        !json_is_object(json_object_get(doc, "stats")))
        return -1;
    v->ok = strcmp(status, "ok") == 0;
    const char *kind = json_is_object(error) ? str(error, "kind", &bad) : NULL;
    int k = kind ? psb__kind_find(kind) : -1;
    if (!v->ok && (k < 0 || k == PSB_KIND_NONE))
        return -1; /* a failure must say which kind */
    v->kind = v->ok ? PSB_KIND_NONE : (psb_error_kind)k;
    if (json_is_object(error)) {
        v->type = str(error, "type", &bad);
        v->message = str(error, "message", &bad);
        v->traceback = str(error, "traceback", &bad);
        v->module = str(error, "module", &bad);
        v->event = str(error, "event", &bad);
    }
    v->out = str(doc, "stdout", &bad);
    v->err = str(doc, "stderr", &bad);
    v->out_len = v->out ? strlen(v->out) : 0;
    v->err_len = v->err ? strlen(v->err) : 0;
    v->out_trunc = json_is_true(json_object_get(doc, "stdout_truncated"));
    v->err_trunc = json_is_true(json_object_get(doc, "stderr_truncated"));
    v->result_json = v->result_owned = psb__json_dumps(result);
    v->json_text = v->json_owned = psb__json_dumps(doc);
    if (bad || !v->result_json || !v->json_text ||
        blobs_from_json(json_object_get(doc, "figures"), false, &v->figures, &v->n_figures) != 0 ||
        blobs_from_json(json_object_get(doc, "files"), true, &v->files, &v->n_files) != 0 ||
        shown_from_json(json_object_get(doc, "displays"), v) != 0)
        return -1;
    return 0;
}

void cli_view_release(struct cli_view *v) {
    for (size_t i = 0; v->figures && i < v->n_figures; i++)
        free(v->figures[i].owned);
    for (size_t i = 0; v->files && i < v->n_files; i++)
        free(v->files[i].owned);
    free(v->figures);
    free(v->files);
    free(v->shown);
    free(v->result_owned);
    free(v->json_owned);
    json_decref(v->doc);
    memset(v, 0, sizeof *v);
}
