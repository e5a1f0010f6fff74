/*
 * embed/outcome.c - psb_outcome: what one execution did, built from the
 * helper's reply, with accessors and the --json rendering.
 */
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

psb_outcome *psb__outcome_from_reply(const json_t *reply, psb__buf *result, psb__buf *out,
                                     psb__buf *err) {
    psb_outcome *o = calloc(1, sizeof *o);
    bool failed = false;
    if (!o)
        return NULL;
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
    psb__buf_free(&o->out);
    psb__buf_free(&o->err);
    free(o);
}

int psb_outcome_ok(const psb_outcome *o) { return o && o->ok; }

psb_error_kind psb_outcome_error_kind(const psb_outcome *o) {
    return o ? o->kind : PSB_KIND_INTERNAL;
}

const char *psb_outcome_error_type(const psb_outcome *o) { return o ? o->type : NULL; }
const char *psb_outcome_error_message(const psb_outcome *o) { return o ? o->message : NULL; }
const char *psb_outcome_error_traceback(const psb_outcome *o) {
    return o ? o->traceback : NULL;
}
const char *psb_outcome_error_module(const psb_outcome *o) { return o ? o->module : NULL; }
const char *psb_outcome_error_event(const psb_outcome *o) { return o ? o->event : NULL; }

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
        error = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?}", "kind",
                          psb_error_kind_name(o->kind), "type", o->type, "message", o->message,
                          "traceback", o->traceback, "module", o->module, "event", o->event);
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
    if (doc)
        o->json = json_dumps(doc, JSON_COMPACT);
out:
    json_decref(doc);
    json_decref(result);
    json_decref(error);
    return o->json;
}
