/*
 * tests/fuzz/fuzz_policy.c - the policy parser. A policy file comes from
 * whoever configures the sandbox, not necessarily whoever embeds it; bad
 * text must fail with a message, and what parses must copy and clear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    psb__policy p, copy;
    psb_error err;
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    memset(&err, 0, sizeof err);
    if (psb__policy_parse(text, "fuzz", &p, &err) == PSB_OK) {
        if (!p.doc)
            abort();
        for (int i = 0; i < PSB__LIMIT_COUNT; i++)
            if (psb__limit_check((enum psb__limit_id)i, p.limits.v[i], "fuzz", NULL) != PSB_OK)
                abort(); /* a parsed policy holds only limits in range */
        memset(&err, 0, sizeof err);
        if (psb__policy_copy(&p, &copy, &err) == PSB_OK)
            psb__policy_clear(&copy);
        psb__policy_clear(&p);
    } else if (err.code == PSB_OK || err.message[0] == '\0') {
        abort(); /* a refusal says why */
    }
    free(text);
    return 0;
}
