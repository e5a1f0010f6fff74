/*
 * base/error.c - filling the caller's psb_error and the static status
 * messages. The first error recorded in a psb_error wins.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/wire.h"

static const char *const status_msgs[] = {
#define PSB__STATUS_STR(name, msg) msg,
    PSB_STATUS_MAP(PSB__STATUS_STR)
#undef PSB__STATUS_STR
};

static const char *const kind_names[] = {
#define PSB__KIND_STR(name, str) str,
    PSB_KIND_MAP(PSB__KIND_STR)
#undef PSB__KIND_STR
};

const char *psb_status_str(psb_status status) {
    if ((unsigned)status >= (unsigned)PSB__STATUS_COUNT)
        return "unknown status";
    return status_msgs[status];
}

const char *psb_error_kind_name(psb_error_kind kind) {
    if ((unsigned)kind >= (unsigned)PSB__KIND_COUNT)
        return "internal";
    return kind_names[kind];
}

int psb__kind_find(const char *name) {
    for (int k = 0; name && k < PSB__KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

void psb__err_clear(psb_error *err) {
    if (!err)
        return;
    err->code = PSB_OK;
    err->sys_errno = 0;
    err->message[0] = '\0';
}

static psb_status verr(psb_error *err, psb_status code, int errno_value, const char *fmt,
                       va_list ap) __attribute__((format(printf, 4, 0)));

static psb_status verr(psb_error *err, psb_status code, int errno_value, const char *fmt,
                       va_list ap) {
    if (!err || err->code != PSB_OK)
        return code;
    err->code = code;
    err->sys_errno = errno_value;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    if (errno_value) {
        size_t used = strlen(err->message);
        snprintf(err->message + used, sizeof err->message - used, ": %s", strerror(errno_value));
    }
    return code;
}

psb_status psb__err(psb_error *err, psb_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verr(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

psb_status psb__err_sys(psb_error *err, int errno_value, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verr(err, PSB_ESYS, errno_value, fmt, ap);
    va_end(ap);
    return PSB_ESYS;
}
