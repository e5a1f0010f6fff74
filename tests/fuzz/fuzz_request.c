/*
 * tests/fuzz/fuzz_request.c - the helper's checks of a REQUEST and a
 * CONTROL document. Both arrive from the library over a socket; the child
 * and the job loop read them without further checks once these pass, so
 * every document they pass must have every limit in range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/internal.h"

/* Every limit is what psb__limit_check() allows, as the checks promise. */
static void limits_in_range(const json_t *doc) {
    psb__limits limits;
    psb__request_limits(doc, &limits);
    for (int i = 0; i < PSB__LIMIT_COUNT; i++)
        if (psb__limit_check((enum psb__limit_id)i, limits.v[i], "fuzz", NULL) != PSB_OK) {
            fprintf(stderr, "request: %s out of range after the check\n",
                    psb__limit_key((enum psb__limit_id)i));
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char msg[256];
    /* The flags embed/job.c and embed/child.c read them with. */
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    msg[0] = '\0';
    if (psb__request_check(doc, msg, sizeof msg) == 0)
        limits_in_range(doc);
    else if (!memchr(msg, '\0', sizeof msg) || msg[0] == '\0')
        abort(); /* a refusal says why */
    msg[0] = '\0';
    if (psb__control_check(doc, msg, sizeof msg) == 0)
        limits_in_range(doc);
    else if (!memchr(msg, '\0', sizeof msg) || msg[0] == '\0')
        abort();
    json_decref(doc);
    return 0;
}
