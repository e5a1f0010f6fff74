/*
 * tests/fuzz/fuzz_claim.c - the REPLY frame decoder. A child is hostile
 * and writes anything to its reply socket; whatever decodes must be a
 * claim the verdict can take as it is: ok without a kind, or an error
 * with one, every member a C string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"

static void c_string(const char *s) {
    if (s && strlen(s) > (size_t)1 << 30)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *doc = NULL;
    struct psb__claim c;
    if (psb__claim_decode((const char *)data, size, &doc, &c) != 0) {
        if (doc)
            abort(); /* nothing is handed back on failure */
        return 0;
    }
    if (!doc || c.ok == (c.kind != PSB_KIND_NONE) || (unsigned)c.kind >= PSB__KIND_COUNT)
        abort();
    if (c.ok && (c.type || c.message || c.traceback || c.module || c.event))
        abort(); /* an ok claim carries no error members */
    c_string(c.type);
    c_string(c.message);
    c_string(c.traceback);
    c_string(c.module);
    c_string(c.event);
    json_decref(doc);
    return 0;
}
