/*
 * host/cancel.c - cancellation tokens. A token is a flag and an eventfd:
 * firing sets the flag and makes the eventfd readable, which wakes every
 * execution polling it (exec.c), so firing needs no lock and is safe in a
 * signal handler. The eventfd is never reset: a fired token stays fired.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "host/host.h"

psb_cancel *psb_cancel_new(psb_error *err) {
    psb_cancel *c = calloc(1, sizeof *c);
    if (!c) {
        psb__err(err, PSB_ENOMEM, "out of memory");
        return NULL;
    }
    c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->fd < 0) {
        psb__err_sys(err, errno, "cannot create a cancellation token");
        free(c);
        return NULL;
    }
    return c;
}

void psb_cancel_free(psb_cancel *c) {
    if (!c)
        return;
    close(c->fd);
    free(c);
}

void psb_cancel_fire(psb_cancel *c) {
    if (!c)
        return;
    int saved = errno; /* a signal handler must leave errno as it found it */
    atomic_store(&c->fired, 1);
    uint64_t one = 1;
    ssize_t n = write(c->fd, &one, sizeof one); /* EAGAIN only when already readable */
    (void)n;
    errno = saved;
}

int psb_cancel_fired(const psb_cancel *c) {
    return c && atomic_load(&c->fired) ? 1 : 0;
}

psb_status psb_exec_options_set_cancel(psb_exec_options *o, psb_cancel *cancel, psb_error *err) {
    if (!o)
        return psb__err(err, PSB_EINVAL, "psb_exec_options_set_cancel: NULL options");
    o->cancel = cancel;
    return PSB_OK;
}

psb_status psb_exec_options_set_output_callback(psb_exec_options *o, psb_output_fn fn, void *user,
                                                psb_error *err) {
    if (!o)
        return psb__err(err, PSB_EINVAL, "psb_exec_options_set_output_callback: NULL options");
    o->on_output = fn;
    o->on_output_user = user;
    return PSB_OK;
}

psb_status psb_exec_options_set_input_callback(psb_exec_options *o, psb_input_fn fn, void *user,
                                               psb_error *err) {
    if (!o)
        return psb__err(err, PSB_EINVAL, "psb_exec_options_set_input_callback: NULL options");
    if (fn && o->has_stdin)
        return psb__err(err, PSB_EINVAL,
                        "psb_exec_options_set_input_callback: the options carry stdin; input() "
                        "reads either stdin or the callback");
    o->on_input = fn;
    o->on_input_user = user;
    return PSB_OK;
}
