/*
 * tests/fuzz/fuzz_frames.c - the parsers of a child's raw reply bytes:
 * FILE and DISPLAY frame payloads, PNG headers, base64, and the UTF-8 check and lossy
 * decoding of captured stdout and stderr. The child runs untrusted code,
 * so all of these see bytes an attacker chose.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

/*
 * An independent UTF-8 check (Unicode 15, table 3-7, well-formed byte
 * sequences), to hold psb__utf8_valid() against.
 */
static bool ref_utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        uint8_t lo = 0x80, hi = 0xbf;
        size_t n;
        if (c <= 0x7f) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c == 0xe0) {
            n = 2, lo = 0xa0;
        } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
            n = 2;
        } else if (c == 0xed) {
            n = 2, hi = 0x9f;
        } else if (c == 0xf0) {
            n = 3, lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            n = 3;
        } else if (c == 0xf4) {
            n = 3, hi = 0x8f;
        } else {
            return false;
        }
        if (len - i - 1 < n || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        i += n + 1;
    }
    return true;
}

static void check_file_frame(const uint8_t *data, size_t size) {
    psb__buf payload = {0};
    const char *name, *bytes;
    size_t len;
    if (psb__buf_append(&payload, data, size) != 0)
        abort();
    if (psb__file_frame_parse(&payload, &name, &bytes, &len) == 0) {
        /* The name ends at a NUL inside the payload and the bytes fill the rest. */
        if (name != payload.data || strlen(name) >= payload.len ||
            bytes != payload.data + strlen(name) + 1 || bytes + len != payload.data + payload.len)
            abort();
        if (!psb__file_name_valid(name))
            abort();
        /* It encodes back to the same payload. */
        psb__buf again = {0};
        if (psb__file_frame(name, bytes, len, &again) != 0)
            abort();
        if (again.len != payload.len || memcmp(again.data, payload.data, payload.len) != 0)
            abort();
        psb__buf_free(&again);
    }
    psb__buf_free(&payload);
}

static void check_display_frame(const uint8_t *data, size_t size) {
    psb__buf payload = {0};
    struct psb__mime_entry e[PSB__MAX_MIMES];
    size_t n = 0;
    bool result;
    if (psb__buf_append(&payload, data, size) != 0)
        abort();
    if (psb__display_frame_parse(&payload, &result, e, &n) == 0) {
        /* Every entry lies inside the payload, and it encodes back the same. */
        if (n == 0 || n > PSB__MAX_MIMES)
            abort();
        for (size_t i = 0; i < n; i++)
            if (e[i].data < payload.data || e[i].data + e[i].len > payload.data + payload.len ||
                e[i].mime < payload.data || e[i].mime >= payload.data + payload.len)
                abort();
        psb__buf again = {0};
        if (psb__display_frame(result, e, n, &again) != 0 || again.len != payload.len ||
            memcmp(again.data, payload.data, payload.len) != 0)
            abort();
        psb__buf_free(&again);
    }
    psb__buf_free(&payload);
}

static void check_png(const uint8_t *data, size_t size) {
    unsigned w = 0, h = 0;
    if (psb__png_size(data, size, &w, &h) &&
        (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu))
        abort();
}

static void check_base64(const uint8_t *data, size_t size) {
    psb__buf out = {0};
    if (psb__base64_decode((const char *)data, size, &out) != 0)
        return;
    if (out.len != size / 4 * 3 && out.len + 1 != size / 4 * 3 && out.len + 2 != size / 4 * 3)
        abort();
    /* What decodes encodes to text that decodes to the same bytes. */
    char *text = psb__base64_encode(out.data, out.len);
    psb__buf back = {0};
    if (!text || psb__base64_decode(text, strlen(text), &back) != 0 || back.len != out.len ||
        memcmp(back.data, out.data, out.len) != 0) {
        fprintf(stderr, "frames: base64 does not round-trip\n");
        abort();
    }
    free(text);
    psb__buf_free(&back);
    psb__buf_free(&out);
}

static void check_utf8(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    bool valid = psb__utf8_valid(s, size);
    if (valid != ref_utf8_valid(data, size)) {
        fprintf(stderr, "frames: psb__utf8_valid says %d, the reference %d\n", valid, !valid);
        abort();
    }
    json_t *str = psb__json_lossy_string(s, size);
    if (!str)
        abort(); /* only out of memory may fail */
    const char *out = json_string_value(str);
    size_t out_len = json_string_length(str);
    if (!psb__utf8_valid(out, out_len) || !ref_utf8_valid((const uint8_t *)out, out_len)) {
        fprintf(stderr, "frames: lossy string is not UTF-8\n");
        abort();
    }
    /* Valid text passes unchanged. */
    if (valid && (out_len != size || memcmp(out, s, size) != 0))
        abort();
    json_decref(str);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_file_frame(data, size);
    check_display_frame(data, size);
    check_png(data, size);
    check_base64(data, size);
    check_utf8(data, size);
    return 0;
}
