/*
 * tests/fuzz/fuzz_request.c - the helper's decoding of a REQUEST and a
 * CONTROL document. Both arrive from the library over a socket; the child
 * and the job loop read them without further checks once these pass, so
 * every document they pass must have every limit in range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/request.h"

/* Every limit is what psb__limit_check() allows, as the checks promise. */
static void limits_in_range(const psb__limits *limits) {
    for (int i = 0; i < PSB__LIMIT_COUNT; i++)
        if (psb__limit_check((enum psb__limit_id)i, limits->v[i], "fuzz", NULL) != PSB_OK) {
            fprintf(stderr, "request: %s out of range after the check\n",
                    psb__limit_key((enum psb__limit_id)i));
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char msg[256];
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    msg[0] = '\0';
    struct psb__request req;
    if (psb__request_decode(doc, &req, msg, sizeof msg) == 0) {
        limits_in_range(&req.limits);
        /* What the child then reads without checks. */
        if (!req.code || strlen(req.code) != req.code_len || !json_is_array(req.import_rules) ||
            !json_is_object(req.env) || !json_is_array(req.files) ||
            (req.inputs && !json_is_object(req.inputs)))
            abort();
    } else if (!memchr(msg, '\0', sizeof msg) || msg[0] == '\0')
        abort(); /* a refusal says why */
    msg[0] = '\0';
    struct psb__control control;
    if (psb__control_decode(doc, &control, msg, sizeof msg) == 0)
        limits_in_range(&control.limits);
    else if (!memchr(msg, '\0', sizeof msg) || msg[0] == '\0')
        abort();
    json_decref(doc);
    return 0;
}
