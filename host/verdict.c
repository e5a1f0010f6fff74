/*
 * host/verdict.c - decides the outcome of an execution from what the
 * kernel said (through the helper: exit status, signal, deadline, OOM
 * kill, CPU time) and what the child claimed in its reply. The kernel's
 * facts always win; the child's claim decides only between the outcomes
 * its own code could have chosen anyway (ok, exception, a refused import,
 * ...). Also which frames of a reply the library reads at all. Pure
 * functions, tested in test_core.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "host/host.h"

/* Kinds a child may claim: each is something its code could make happen. */
static const psb_error_kind claimable[] = {
    PSB_KIND_EXCEPTION,
    PSB_KIND_SYNTAX_ERROR,
    PSB_KIND_IMPORT_DENIED,
    PSB_KIND_DENIED,
    PSB_KIND_RESULT_NOT_SERIALIZABLE,
    PSB_KIND_MEMORY_LIMIT,
    PSB_KIND_OUTPUT_LIMIT,
    PSB_KIND_INTERNAL,
};

psb_error_kind psb__verdict(const struct psb__exit *x, enum psb__reply_state reply,
                            psb_error_kind claimed, const psb__limits *limits, char *msg,
                            size_t msg_size, enum psb__verdict_detail *ret_detail) {
    *ret_detail = PSB__DETAIL_NONE;
    msg[0] = '\0';
    if (x->error_kind != PSB_KIND_NONE) {
        snprintf(msg, msg_size, "%s", x->error_message);
        return x->error_kind;
    }
    if (x->timed_out) {
        snprintf(msg, msg_size, "the execution exceeded its time limit of %llu ms",
                 (unsigned long long)limits->v[PSB__LIMIT_TIMEOUT_MS]);
        /* The traceback of the line that was running, if the child sent one. */
        if (reply == PSB__REPLY_COMPLETE)
            *ret_detail = PSB__DETAIL_TRACEBACK;
        return PSB_KIND_TIMEOUT;
    }
    if (x->oom) {
        snprintf(msg, msg_size,
                 "the execution reached its memory limit of %llu MiB and was stopped by the "
                 "kernel",
                 (unsigned long long)limits->v[PSB__LIMIT_MEMORY_MIB]);
        return PSB_KIND_MEMORY_LIMIT;
    }
    uint64_t cpu_limit_ms = limits->v[PSB__LIMIT_CPU_S] * 1000u;
    if (x->signal == SIGXCPU ||
        (x->signal == SIGKILL && !x->killed && x->stats.cpu_ms + 50 >= cpu_limit_ms)) {
        snprintf(msg, msg_size, "the execution exceeded its CPU time limit of %llu s",
                 (unsigned long long)limits->v[PSB__LIMIT_CPU_S]);
        return PSB_KIND_CPU_LIMIT;
    }
    if (reply == PSB__REPLY_TOO_LARGE) {
        snprintf(msg, msg_size, "the result is larger than the limit of %llu bytes",
                 (unsigned long long)limits->v[PSB__LIMIT_RESULT_BYTES]);
        return PSB_KIND_OUTPUT_LIMIT;
    }
    if (reply == PSB__REPLY_MALFORMED) {
        snprintf(msg, msg_size, "the execution sent a malformed reply");
        return PSB_KIND_CRASHED;
    }
    if (x->signal) {
        const char *name = sigabbrev_np(x->signal);
        snprintf(msg, msg_size, "the child was killed by signal SIG%s (%d)", name ? name : "?",
                 x->signal);
        *ret_detail = PSB__DETAIL_SIGNAL;
        return PSB_KIND_CRASHED;
    }
    if (reply != PSB__REPLY_COMPLETE && x->code == PSB__CHILD_SETUP_FAILED) {
        snprintf(msg, msg_size, "the execution child failed to set itself up");
        return PSB_KIND_INTERNAL;
    }
    if (reply != PSB__REPLY_COMPLETE) {
        snprintf(msg, msg_size, "the child exited with status %d without sending a result",
                 x->code);
        return PSB_KIND_CRASHED;
    }
    if (claimed == PSB_KIND_NONE)
        return PSB_KIND_NONE;
    for (size_t i = 0; i < sizeof claimable / sizeof claimable[0]; i++)
        if (claimed == claimable[i]) {
            *ret_detail = PSB__DETAIL_CLAIM;
            return claimable[i];
        }
    snprintf(msg, msg_size, "the execution sent a malformed reply");
    return PSB_KIND_CRASHED;
}

enum psb__reply_state psb__frame_admit(enum psb__reply_phase phase, uint32_t type, uint64_t len,
                                       const struct psb__reply_count *count,
                                       const psb__limits *limits) {
    uint64_t cap;
    if (phase == PSB__PHASE_REPLY && type == PSB__FRAME_REPLY)
        cap = PSB__REPLY_MAX_BYTES;
    else if (phase == PSB__PHASE_RESULT && type == PSB__FRAME_RESULT)
        return len > limits->v[PSB__LIMIT_RESULT_BYTES] ? PSB__REPLY_TOO_LARGE : PSB__REPLY_NONE;
    else if (phase == PSB__PHASE_EXTRAS && type == PSB__FRAME_FIGURE &&
             count->figures < PSB__MAX_FIGURES)
        cap = limits->v[PSB__LIMIT_FIGURES_BYTES] - count->figure_bytes;
    else if (phase == PSB__PHASE_EXTRAS && type == PSB__FRAME_DISPLAY &&
             count->displays < PSB__MAX_DISPLAYS) {
        uint64_t left = limits->v[PSB__LIMIT_DISPLAYS_BYTES] - count->display_bytes;
        cap =
            limits->v[PSB__LIMIT_DISPLAY_BYTES] < left ? limits->v[PSB__LIMIT_DISPLAY_BYTES] : left;
    } else if (phase == PSB__PHASE_EXTRAS && type == PSB__FRAME_FILE &&
               count->files < PSB__MAX_FILES)
        cap = limits->v[PSB__LIMIT_FILES_BYTES] - count->file_bytes + PSB__MAX_FILE_NAME + 1;
    else
        return PSB__REPLY_MALFORMED;
    return len > cap ? PSB__REPLY_MALFORMED : PSB__REPLY_NONE;
}
