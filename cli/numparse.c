/*
 * numparse.c - strict parsing of the numbers given to command-line flags.
 *
 * strtoull() accepts spaces, signs ("-1" wraps to 2^64-1) and hex, and
 * strtod() accepts "inf", "nan" and exponents: none of that is a limit a
 * user means, so digits are parsed by hand and anything else is refused.
 */
#include "cli/cli.h"

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* v = v * 10 + digit c, unless that overflows. */
static enum cli_num push_digit(uint64_t *v, char c) {
    enum cli_num rc = CLI_NUM_RANGE;
    uint64_t d = (uint64_t)(c - '0');

    if (*v > (UINT64_MAX - d) / 10)
        goto out;
    *v = *v * 10 + d;
    rc = CLI_NUM_OK;
out:
    return rc;
}

enum cli_num cli_parse_u64(const char *s, uint64_t *ret) {
    enum cli_num rc = CLI_NUM_SYNTAX;
    uint64_t v = 0;
    const char *p;

    if (s[0] == '\0')
        goto out;
    for (p = s; *p != '\0'; p++) {
        if (!is_digit(*p)) {
            rc = CLI_NUM_SYNTAX;
            goto out;
        }
        rc = push_digit(&v, *p);
        if (rc != CLI_NUM_OK)
            goto out;
    }
    *ret = v;
    rc = CLI_NUM_OK;
out:
    return rc;
}

enum cli_num cli_parse_seconds_ms(const char *s, uint64_t *ret_ms) {
    enum cli_num rc = CLI_NUM_SYNTAX;
    uint64_t secs = 0, frac_ms = 0;
    unsigned frac_digits = 0;
    int digits = 0;
    const char *p = s;

    for (; is_digit(*p); p++, digits++) {
        rc = push_digit(&secs, *p);
        if (rc != CLI_NUM_OK)
            goto out;
    }
    if (*p == '.') {
        for (p++; is_digit(*p); p++, digits++) {
            if (frac_digits < 3) {
                frac_ms = frac_ms * 10 + (uint64_t)(*p - '0');
                frac_digits++;
            }
        }
    }
    rc = CLI_NUM_SYNTAX;
    if (digits == 0 || *p != '\0')
        goto out;
    for (; frac_digits < 3; frac_digits++)
        frac_ms *= 10;
    rc = CLI_NUM_RANGE;
    if (secs > (UINT64_MAX - frac_ms) / 1000)
        goto out;
    *ret_ms = secs * 1000 + frac_ms;
    rc = CLI_NUM_OK;
out:
    return rc;
}
