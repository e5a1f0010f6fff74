/*
 * base/status.c - the STATUS frame: what the helper tells the library
 * about an execution's process once it is reaped (or could not start).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"

/*
 * Length of the longest prefix of s (at most max bytes, up to its NUL) that
 * is whole UTF-8: snprintf() into error_message cuts a long message at a
 * byte count, maybe inside a character, and jansson refuses to pack or
 * load text that is not UTF-8 (found by tests/fuzz/fuzz_status.c).
 */
static size_t utf8_prefix(const char *s, size_t max) {
    size_t n = strnlen(s, max);
    while (n > 0 && !psb__utf8_valid(s, n))
        n--;
    return n;
}

static const char *const start_names[] = {"none", "warm", "early", "cold"};

const char *psb_start_name(psb_start start) {
    return (unsigned)start < sizeof start_names / sizeof start_names[0] ? start_names[start]
                                                                        : "unknown";
}

/* The start a name stands for; PSB_START_NONE for anything else. */
static psb_start start_find(const char *name) {
    for (size_t i = 0; name && i < sizeof start_names / sizeof start_names[0]; i++)
        if (strcmp(name, start_names[i]) == 0)
            return (psb_start)i;
    return PSB_START_NONE;
}

char *psb__exit_encode(const struct psb__exit *x) {
    size_t message_len = utf8_prefix(x->error_message, sizeof x->error_message);
    json_t *doc =
        json_pack("{s:i,s:i,s:b,s:b,s:b,s:{s:I,s:I,s:I,s:I,s:s}}", "code", x->code, "signal",
                  x->signal, "timed_out", x->timed_out, "oom", x->oom, "killed", x->killed, "stats",
                  "wall_ms", (json_int_t)x->stats.wall_ms, "cpu_ms", (json_int_t)x->stats.cpu_ms,
                  "peak_rss_kib", (json_int_t)x->stats.peak_rss_kib, "peak_memory_kib",
                  (json_int_t)x->stats.peak_memory_kib, "start", psb_start_name(x->stats.start));
    static const char *const ends[] = {"none", "lifetime", "idle"};
    if (doc && (x->alive || x->ended) &&
        (json_object_set_new(doc, "alive", json_boolean(x->alive)) != 0 ||
         json_object_set_new(doc, "ended", json_string(ends[x->ended])) != 0)) {
        json_decref(doc);
        return NULL;
    }
    if (doc && x->error_kind != PSB_KIND_NONE &&
        json_object_set_new(doc, "error",
                            json_pack("{s:s,s:s%}", "kind", psb_error_kind_name(x->error_kind),
                                      "message", x->error_message, message_len)) != 0) {
        json_decref(doc);
        return NULL;
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static uint64_t stat_of(const json_t *stats, const char *key) {
    json_int_t v = json_integer_value(json_object_get(stats, key));
    return v > 0 ? (uint64_t)v : 0;
}

int psb__exit_decode(const char *text, size_t len, struct psb__exit *ret) {
    json_t *doc = json_loadb(text, len, 0, NULL);
    const json_t *stats = json_object_get(doc, "stats");
    const json_t *error = json_object_get(doc, "error");
    int rc = -1;
    memset(ret, 0, sizeof *ret);
    if (!json_is_object(doc) || !json_is_integer(json_object_get(doc, "code")) ||
        !json_is_integer(json_object_get(doc, "signal")) || !json_is_object(stats))
        goto out;
    ret->code = (int)json_integer_value(json_object_get(doc, "code"));
    ret->signal = (int)json_integer_value(json_object_get(doc, "signal"));
    ret->timed_out = json_is_true(json_object_get(doc, "timed_out"));
    ret->oom = json_is_true(json_object_get(doc, "oom"));
    ret->killed = json_is_true(json_object_get(doc, "killed"));
    ret->alive = json_is_true(json_object_get(doc, "alive"));
    const char *ended = json_string_value(json_object_get(doc, "ended"));
    ret->ended = ended && strcmp(ended, "lifetime") == 0 ? PSB__END_LIFETIME
                 : ended && strcmp(ended, "idle") == 0   ? PSB__END_IDLE
                                                         : PSB__END_NONE;
    ret->stats.wall_ms = stat_of(stats, "wall_ms");
    ret->stats.cpu_ms = stat_of(stats, "cpu_ms");
    ret->stats.peak_rss_kib = stat_of(stats, "peak_rss_kib");
    ret->stats.peak_memory_kib = stat_of(stats, "peak_memory_kib");
    ret->stats.start = start_find(json_string_value(json_object_get(stats, "start")));
    if (error) {
        const char *kind = json_string_value(json_object_get(error, "kind"));
        const char *message = json_string_value(json_object_get(error, "message"));
        int k = psb__kind_find(kind);
        ret->error_kind = k > PSB_KIND_NONE ? (psb_error_kind)k : PSB_KIND_INTERNAL;
        snprintf(ret->error_message, sizeof ret->error_message, "%s",
                 message ? message : "the helper could not run the execution");
        ret->error_message[utf8_prefix(ret->error_message, sizeof ret->error_message)] = '\0';
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}
