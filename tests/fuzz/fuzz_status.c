/*
 * tests/fuzz/fuzz_status.c - the STATUS frame decoder. The library decodes
 * what the helper sends; a helper that was compromised (or a bug in it)
 * must not crash the host, and whatever decodes must encode and decode
 * back to the same facts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

static bool same(const struct psb__exit *a, const struct psb__exit *b) {
    return a->error_kind == b->error_kind && strcmp(a->error_message, b->error_message) == 0 &&
           a->code == b->code && a->signal == b->signal && a->timed_out == b->timed_out &&
           a->oom == b->oom && a->killed == b->killed && a->stats.wall_ms == b->stats.wall_ms &&
           a->stats.cpu_ms == b->stats.cpu_ms && a->stats.peak_rss_kib == b->stats.peak_rss_kib &&
           a->stats.peak_memory_kib == b->stats.peak_memory_kib;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct psb__exit x, y;
    if (psb__exit_decode((const char *)data, size, &x) != 0)
        return 0;
    /* The message is a C string: it must end inside its array. */
    if (!memchr(x.error_message, '\0', sizeof x.error_message))
        abort();
    char *text = psb__exit_encode(&x);
    if (!text) {
        fprintf(stderr, "status: a decoded STATUS does not encode\n");
        abort();
    }
    if (psb__exit_decode(text, strlen(text), &y) != 0 || !same(&x, &y)) {
        fprintf(stderr, "status: encode/decode changed the facts: %s\n", text);
        abort();
    }
    free(text);
    return 0;
}
