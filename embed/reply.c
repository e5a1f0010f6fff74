/*
 * embed/reply.c - the reply an execution child writes to the library on
 * its request socket: REPLY, RESULT, then FIGURE and FILE frames. Messages
 * and tracebacks are cut to fit the library's cap on the REPLY frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"

/* Within the library's 256 KiB cap on the REPLY frame, escapes included. */
#define MESSAGE_MAX_BYTES (8u << 10)
#define TRACEBACK_MAX_BYTES (32u << 10)

/* A JSON string of s cut to max bytes: a traceback keeps its end, the line that failed. */
static json_t *cut(const char *s, size_t max, bool keep_end) {
    if (!s)
        return NULL;
    size_t len = strlen(s);
    if (len <= max)
        return psb__json_lossy_string(s, len);
    const char *mark = "...";
    char *buf = malloc(max + 4);
    if (!buf)
        return NULL;
    /* buf is counted (max + 3 bytes), not a C string: no terminator. */
    if (keep_end) {
        memcpy(buf, mark, 3); /* NOLINT(bugprone-not-null-terminated-result) */
        memcpy(buf + 3, s + len - max, max);
    } else {
        memcpy(buf, s, max);
        memcpy(buf + max, mark, 3); /* NOLINT(bugprone-not-null-terminated-result) */
    }
    json_t *j = psb__json_lossy_string(buf, max + 3); /* a cut code point becomes U+FFFD */
    free(buf);
    return j;
}

void psb__child_reply(int fd, psb_error_kind kind, const char *type, const char *message,
                      const char *traceback, const char *module, const char *event,
                      const char *result_json, size_t result_len,
                      const struct psb__reply_extras *x) {
    static const struct psb__reply_extras none;
    x = x ? x : &none;
    json_t *reply;
    if (kind == PSB_KIND_NONE)
        reply = json_pack("{s:s}", PSB__KEY_STATUS, "ok");
    else
        reply = json_pack("{s:s,s:{s:s,s:o*,s:o*,s:o*,s:o*,s:o*}}", PSB__KEY_STATUS, "error",
                          PSB__KEY_ERROR, PSB__KEY_KIND, psb_error_kind_name(kind), PSB__KEY_TYPE,
                          cut(type, 256, false), PSB__KEY_MESSAGE,
                          cut(message, MESSAGE_MAX_BYTES, false), PSB__KEY_TRACEBACK,
                          cut(traceback, TRACEBACK_MAX_BYTES, true), PSB__KEY_MODULE,
                          cut(module, 256, false), PSB__KEY_EVENT, cut(event, 256, false));
    if (reply && x->figures_truncated)
        json_object_set_new(reply, PSB__KEY_FIGURES_TRUNCATED, json_true());
    if (reply && x->displays_truncated)
        json_object_set_new(reply, PSB__KEY_DISPLAYS_TRUNCATED, json_true());
    char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    if (!text) {
        /* Out of memory even for the reply: a fixed one still tells the library. */
        static const char fallback[] =
            "{\"status\":\"error\",\"error\":{\"kind\":\"memory_limit\","
            "\"message\":\"out of memory while reporting the outcome\"}}";
        (void)psb__frame_write(fd, PSB__FRAME_REPLY, fallback, sizeof fallback - 1);
        (void)psb__frame_write(fd, PSB__FRAME_RESULT, "null", 4);
        return;
    }
    int rc = psb__frame_write(fd, PSB__FRAME_REPLY, text, strlen(text));
    free(text);
    if (kind == PSB_KIND_NONE && result_json)
        rc = rc ? rc : psb__frame_write(fd, PSB__FRAME_RESULT, result_json, result_len);
    else
        rc = rc ? rc : psb__frame_write(fd, PSB__FRAME_RESULT, "null", 4);
    for (size_t i = 0; rc == 0 && i < x->n_displays; i++)
        rc = psb__frame_write(fd, PSB__FRAME_DISPLAY, x->displays[i].data, x->displays[i].len);
    for (size_t i = 0; rc == 0 && i < x->n_figures; i++)
        rc = psb__frame_write(fd, PSB__FRAME_FIGURE, x->figures[i].data, x->figures[i].len);
    for (size_t i = 0; rc == 0 && i < x->n_files; i++) {
        psb__buf frame = {0};
        const psb__buf *d = &x->files[i].data;
        rc = psb__file_frame(x->files[i].name, d->data ? d->data : "", d->len, &frame);
        rc = rc ? rc : psb__frame_write(fd, PSB__FRAME_FILE, frame.data, frame.len);
        psb__buf_free(&frame);
    }
}
