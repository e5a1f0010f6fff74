/*
 * test_api.c - end-to-end tests of libpysandbox through its public header:
 * real sandboxed Python, one outcome kind at a time, plus request validation,
 * output capture, inputs/stdin/env, statistics, concurrency and fd hygiene.
 */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pysandbox.h>

#include "tests/suite.h"

#define S(x) ((x) ? (x) : "(null)")
#define ERR_INIT                                                                                   \
    { .code = PSB_OK }

/* One sandbox per test, created in the forked test process (checked fixture). */
static psb_sandbox *sb;

/* A sandbox with the given policy preset (NULL: the default policy). */
static psb_sandbox *sandbox_create_policy(const char *policy) {
    psb_error err = ERR_INIT;
    psb_sandbox *s = NULL;
    psb_config *cfg = psb_config_new(&err);
    ck_assert_msg(cfg != NULL, "psb_config_new: %s", err.message);
    if (policy != NULL) {
        psb_status pst = psb_config_set_policy(cfg, policy, &err);
        ck_assert_msg(pst == PSB_OK, "psb_config_set_policy(%s): %s: %s", policy,
                      psb_status_str(pst), err.message);
    }
    psb_status st = psb_sandbox_new(cfg, &s, &err);
    psb_config_free(cfg);
    ck_assert_msg(st == PSB_OK, "psb_sandbox_new: %s: %s", psb_status_str(st), err.message);
    ck_assert_ptr_nonnull(s);
    return s;
}

static psb_sandbox *sandbox_create(void) {
    return sandbox_create_policy(NULL);
}

/* A sandbox whose Python layers allow everything: only the kernel confines. */
static psb_sandbox *sandbox_create_kernel_only(void) {
    static const char policy[] = "{\"description\": \"python layers open, kernel layers only\","
                                 " \"imports\": {\"default\": \"allow\"}, \"denied_events\": [],"
                                 " \"network\": false}";
    psb_error err = ERR_INIT;
    psb_sandbox *s = NULL;
    psb_config *cfg = psb_config_new(&err);
    ck_assert_ptr_nonnull(cfg);
    psb_status st = psb_config_set_policy_json(cfg, policy, &err);
    ck_assert_msg(st == PSB_OK, "set_policy_json: %s: %s", psb_status_str(st), err.message);
    st = psb_sandbox_new(cfg, &s, &err);
    psb_config_free(cfg);
    ck_assert_msg(st == PSB_OK, "psb_sandbox_new: %s: %s", psb_status_str(st), err.message);
    return s;
}

static void sandbox_setup(void) {
    sb = sandbox_create();
}

static void sandbox_teardown(void) {
    psb_sandbox_free(sb);
    sb = NULL;
}

/* A one-line description of an outcome for failure messages (main thread only). */
static const char *describe(const psb_outcome *o) {
    static char buf[3072];
    size_t olen = 0, elen = 0;
    const char *so = psb_outcome_stdout(o, &olen, NULL);
    const char *se = psb_outcome_stderr(o, &elen, NULL);
    snprintf(buf, sizeof buf,
             "[ok=%d kind=%s type=%s message=%.300s module=%s event=%s "
             "result=%.200s stdout=%.200s stderr=%.600s traceback=%.600s]",
             psb_outcome_ok(o), psb_error_kind_name(psb_outcome_error_kind(o)),
             S(psb_outcome_error_type(o)), S(psb_outcome_error_message(o)),
             S(psb_outcome_error_module(o)), S(psb_outcome_error_event(o)),
             S(psb_outcome_result_json(o)), S(so), S(se), S(psb_outcome_error_traceback(o)));
    return buf;
}

static psb_exec_options *opts_new(void) {
    psb_error err = ERR_INIT;
    psb_exec_options *o = psb_exec_options_new(&err);
    ck_assert_msg(o != NULL, "psb_exec_options_new: %s", err.message);
    return o;
}

/* Asserts that an API call returned PSB_OK; err holds its details. */
static void ck_psb(psb_status st, const psb_error *err, const char *what) {
    ck_assert_msg(st == PSB_OK, "%s: %s: %s", what, psb_status_str(st), err->message);
}

static psb_outcome *run_on(psb_sandbox *s, const char *code, const psb_exec_options *o) {
    psb_error err = ERR_INIT;
    psb_outcome *out = NULL;
    psb_status st = psb_exec(s, code, strlen(code), o, &out, &err);
    ck_assert_msg(st == PSB_OK, "psb_exec(%s): %s: %s", code, psb_status_str(st), err.message);
    ck_assert_msg(out != NULL, "psb_exec(%s) returned no outcome", code);
    return out;
}

static psb_outcome *run(const char *code, const psb_exec_options *o) {
    return run_on(sb, code, o);
}

static void expect_kind(const psb_outcome *o, psb_error_kind kind, const char *code) {
    psb_error_kind got = psb_outcome_error_kind(o);
    ck_assert_msg(got == kind, "code %s: expected kind %s, got %s", code, psb_error_kind_name(kind),
                  describe(o));
    ck_assert_int_eq(psb_outcome_ok(o), kind == PSB_KIND_NONE);
}

/* Asserts status ok and that result_json equals expected_json as JSON. */
static void expect_result(const psb_outcome *o, const char *expected_json, const char *code) {
    expect_kind(o, PSB_KIND_NONE, code);
    const char *got = psb_outcome_result_json(o);
    ck_assert_ptr_nonnull(got);
    json_error_t je;
    json_t *g = json_loads(got, JSON_DECODE_ANY, &je);
    ck_assert_msg(g != NULL, "code %s: result_json '%s' is not JSON: %s", code, got, je.text);
    json_t *e = json_loads(expected_json, JSON_DECODE_ANY, &je);
    ck_assert_msg(e != NULL, "bad expected JSON %s", expected_json);
    int eq = json_equal(g, e);
    json_decref(g);
    json_decref(e);
    ck_assert_msg(eq, "code %s: expected result %s, got %s", code, expected_json, got);
}

static void check_result(const char *code, const char *expected_json) {
    psb_outcome *o = run(code, NULL);
    expect_result(o, expected_json, code);
    psb_outcome_free(o);
}

static void ck_contains(const char *hay, const char *needle, const char *what) {
    ck_assert_msg(hay != NULL, "%s is NULL, expected it to contain '%s'", what, needle);
    ck_assert_msg(strstr(hay, needle) != NULL, "%s '%s' does not contain '%s'", what, hay, needle);
}

static void ck_icontains(const char *hay, const char *needle, const char *what) {
    ck_assert_msg(hay != NULL, "%s is NULL, expected it to contain '%s'", what, needle);
    ck_assert_msg(strcasestr(hay, needle) != NULL, "%s '%s' does not contain '%s'", what, hay,
                  needle);
}

/* ------------------------------------------------------------------------ */
/* streaming and cancellation                                               */
/* ------------------------------------------------------------------------ */

static psb_exec_options *opts_timeout(uint64_t ms);

/* What the output callback saw; fires `cancel` once stdout holds `trigger`. */
struct streamed {
    char out[4096], err[4096];
    size_t out_len, err_len;
    unsigned chunks;
    const char *trigger;
    psb_cancel *cancel;
};

static void on_output(void *user, int stream, const char *data, size_t len) {
    struct streamed *s = user;
    ck_assert_msg(stream == 1 || stream == 2, "stream %d", stream);
    char *dst = stream == 1 ? s->out : s->err;
    size_t *n = stream == 1 ? &s->out_len : &s->err_len;
    ck_assert_msg(*n + len < sizeof s->out, "more output than the test expects");
    memcpy(dst + *n, data, len);
    *n += len;
    dst[*n] = '\0';
    s->chunks++;
    if (s->trigger && s->cancel && strstr(s->out, s->trigger))
        psb_cancel_fire(s->cancel);
}

START_TEST(test_stream_matches_outcome) {
    psb_error err = ERR_INIT;
    struct streamed seen = {0};
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_output_callback(opt, on_output, &seen, &err), &err, "callback");
    ck_psb(psb_exec_options_set_output_limits(opt, 100, 1000, &err), &err, "limits");
    const char *code = "import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr)\n"
                       "print('x' * 500)\nresult = 1";
    psb_outcome *o = run(code, opt);
    expect_result(o, "1", code);
    size_t len = 0, elen = 0;
    int tr = 0;
    const char *out = psb_outcome_stdout(o, &len, &tr);
    const char *e = psb_outcome_stderr(o, &elen, NULL);
    /* Only what the caps kept is streamed: the chunks add up to the outcome. */
    ck_assert_int_eq(tr, 1);
    ck_assert_uint_eq(seen.out_len, len);
    ck_assert_mem_eq(seen.out, out, len);
    ck_assert_uint_eq(seen.err_len, elen);
    ck_assert_str_eq(seen.err, e);
    ck_assert_str_eq(e, "err\n");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_cancel_while_running) {
    /* The callback cancels once the code said it is running: so the output
     * reached the caller while the code ran, and the cancel stopped it long
     * before its timeout or its sleep would have. */
    psb_error err = ERR_INIT;
    psb_cancel *cancel = psb_cancel_new(&err);
    ck_assert_ptr_nonnull(cancel);
    struct streamed seen = {.trigger = "running\n", .cancel = cancel};
    psb_exec_options *opt = opts_timeout(60000);
    ck_psb(psb_exec_options_set_output_callback(opt, on_output, &seen, &err), &err, "callback");
    ck_psb(psb_exec_options_set_cancel(opt, cancel, &err), &err, "set_cancel");
    const char *code = "import time\nprint('running', flush=True)\ntime.sleep(600)";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_CANCELLED, code);
    ck_assert_int_eq(psb_cancel_fired(cancel), 1);
    ck_assert_str_eq(psb_outcome_stdout(o, NULL, NULL), "running\n");
    ck_contains(psb_outcome_error_message(o), "cancelled", "message");
    ck_contains(psb_outcome_json(o), "\"kind\":\"cancelled\"", "outcome JSON");
    psb_outcome_free(o);
    /* A fired token stays fired: the next execution with it runs nothing. */
    o = run("print('never')", opt);
    expect_kind(o, PSB_KIND_CANCELLED, "a second run with a fired token");
    ck_assert_str_eq(psb_outcome_stdout(o, NULL, NULL), "");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
    psb_cancel_free(cancel);
    /* The sandbox goes on. */
    check_result("result = 5", "5");
}
END_TEST

/* Holds every slot with a sleeper, so a second execution has to wait. */
static void *sleeper(void *arg) {
    psb_outcome *o = run("import time\ntime.sleep(1.5)\nresult = 1", NULL);
    psb_outcome_free(o);
    return arg;
}

START_TEST(test_cancel_while_waiting) {
    psb_error err = ERR_INIT;
    psb_config *c = psb_config_new(&err);
    ck_assert_ptr_nonnull(c);
    ck_psb(psb_config_set_max_concurrency(c, 1, &err), &err, "max_concurrency");
    psb_sandbox_free(sb);
    sb = NULL;
    ck_psb(psb_sandbox_new(c, &sb, &err), &err, "sandbox_new");
    psb_config_free(c);
    check_result("result = 0", "0"); /* the helper is up */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sleeper, NULL), 0);
    usleep(300 * 1000); /* the sleeper takes the one slot (else this run is simply cancelled) */
    psb_cancel *cancel = psb_cancel_new(&err);
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_cancel(opt, cancel, &err), &err, "set_cancel");
    psb_cancel_fire(cancel);
    psb_outcome *o = run("print('never')", opt);
    expect_kind(o, PSB_KIND_CANCELLED, "a queued run");
    ck_assert_str_eq(psb_outcome_stdout(o, NULL, NULL), "");
    psb_outcome_free(o);
    pthread_join(t, NULL);
    psb_exec_options_free(opt);
    psb_cancel_free(cancel);
}
END_TEST

START_TEST(test_cancel_null_and_args) {
    psb_error err = ERR_INIT;
    psb_cancel_free(NULL);
    psb_cancel_fire(NULL);
    ck_assert_int_eq(psb_cancel_fired(NULL), 0);
    ck_assert_int_eq(psb_exec_options_set_cancel(NULL, NULL, &err), PSB_EINVAL);
    ck_assert_int_eq(psb_exec_options_set_output_callback(NULL, on_output, NULL, &err), PSB_EINVAL);
    psb_cancel *c = psb_cancel_new(&err);
    ck_assert_int_eq(psb_cancel_fired(c), 0);
    psb_cancel_fire(c);
    psb_cancel_fire(c);
    ck_assert_int_eq(psb_cancel_fired(c), 1);
    psb_cancel_free(c);
    ck_assert_str_eq(psb_error_kind_name(PSB_KIND_CANCELLED), "cancelled");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* ok and the result conversions                                            */
/* ------------------------------------------------------------------------ */

START_TEST(test_ok_simple) {
    psb_outcome *o = run("result = 1 + 1", NULL);
    expect_kind(o, PSB_KIND_NONE, "result = 1 + 1");
    ck_assert_str_eq(psb_outcome_result_json(o), "2");
    ck_assert_ptr_null(psb_outcome_error_type(o));
    ck_assert_ptr_null(psb_outcome_error_message(o));
    ck_assert_ptr_null(psb_outcome_error_module(o));
    ck_assert_ptr_null(psb_outcome_error_event(o));
    size_t len = 99;
    int trunc = 7;
    const char *out = psb_outcome_stdout(o, &len, &trunc);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(trunc, 0);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_ok_conversions) {
    check_result("result = None", "null");
    check_result("result = True", "true");
    check_result("result = False", "false");
    check_result("result = -42", "-42");
    check_result("result = 1.5", "1.5");
    check_result("result = 'h\\u00e9llo \\u2603'", "\"h\\u00e9llo \\u2603\"");
    check_result("result = [1, 'a', None]", "[1,\"a\",null]");
    check_result("result = (3, 4)", "[3,4]");
    check_result("result = {'k': 'v', 'n': [True, 2.5]}", "{\"k\":\"v\",\"n\":[true,2.5]}");
    check_result("result = {7}", "[7]");
    check_result("result = frozenset()", "[]");
    check_result("result = 2**63 - 1", "9223372036854775807");
    check_result("result = -2**63", "-9223372036854775808");
    /* A set of several elements: any order, same members. */
    psb_outcome *o = run("result = {1, 2, 3}", NULL);
    expect_kind(o, PSB_KIND_NONE, "result = {1, 2, 3}");
    json_t *v = json_loads(psb_outcome_result_json(o), JSON_DECODE_ANY, NULL);
    ck_assert_msg(json_is_array(v) && json_array_size(v) == 3, "set: %s",
                  psb_outcome_result_json(o));
    json_int_t sum = 0;
    for (size_t i = 0; i < 3; i++)
        sum += json_integer_value(json_array_get(v, i));
    ck_assert_int_eq(sum, 6);
    json_decref(v);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_ok_bigint) {
    check_result("result = 2**100",
                 "{\"$type\":\"int\",\"value\":\"1267650600228229401496703205376\"}");
    check_result("result = -2**100",
                 "{\"$type\":\"int\",\"value\":\"-1267650600228229401496703205376\"}");
}
END_TEST

START_TEST(test_ok_nonfinite_float) {
    check_result("result = float('nan')", "{\"$type\":\"float\",\"value\":\"nan\"}");
    check_result("result = [float('inf'), float('-inf')]",
                 "[{\"$type\":\"float\",\"value\":\"inf\"},"
                 "{\"$type\":\"float\",\"value\":\"-inf\"}]");
}
END_TEST

START_TEST(test_ok_int_keys) {
    check_result("result = {1: 'a'}", "{\"1\":\"a\"}");
}
END_TEST

START_TEST(test_ok_no_result) {
    psb_outcome *o = run("x = 5", NULL);
    expect_kind(o, PSB_KIND_NONE, "x = 5");
    ck_assert_str_eq(psb_outcome_result_json(o), "null");
    psb_outcome_free(o);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* result_not_serializable, output_limit                                    */
/* ------------------------------------------------------------------------ */

START_TEST(test_not_serializable_object) {
    const char *code = "result = {\"rows\": [1, 2, 3, object()]}";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_RESULT_NOT_SERIALIZABLE, code);
    ck_contains(psb_outcome_error_message(o), "object", "message");
    ck_contains(psb_outcome_error_message(o), "result[\"rows\"][3]", "message");
    ck_assert_str_eq(psb_outcome_result_json(o), "null");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_not_serializable_cycle) {
    const char *code = "a = []\na.append(a)\nresult = a";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_RESULT_NOT_SERIALIZABLE, code);
    ck_icontains(psb_outcome_error_message(o), "cycl", "message");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_not_serializable_depth) {
    const char *code = "x = []\nfor _ in range(1000):\n    x = [x]\nresult = x";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_RESULT_NOT_SERIALIZABLE, code);
    const char *msg = psb_outcome_error_message(o);
    ck_assert_msg(msg && (strcasestr(msg, "depth") || strcasestr(msg, "deep")),
                  "message does not mention the nesting depth: %s", describe(o));
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_result_limit) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_result_limit_bytes(opt, 1000, &err), &err,
           "set_result_limit_bytes");
    const char *code = "result = 'x' * 5000";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_OUTPUT_LIMIT, code);
    psb_outcome_free(o);
    /* Under the limit the same options are fine. */
    o = run("result = 'x' * 500", opt);
    expect_kind(o, PSB_KIND_NONE, "result = 'x' * 500");
    ck_assert_uint_eq(strlen(psb_outcome_result_json(o)), 502);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* exception, syntax_error                                                  */
/* ------------------------------------------------------------------------ */

static void ck_clean_traceback(const char *tb) {
    ck_assert_ptr_nonnull(tb);
    ck_assert_msg(strstr(tb, "pysandbox") == NULL, "traceback shows sandbox frames: %s", tb);
    ck_assert_msg(strstr(tb, "<frozen importlib") == NULL, "traceback shows importlib frames: %s",
                  tb);
}

START_TEST(test_exception_simple) {
    const char *code = "raise ValueError(\"boom\")";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_EXCEPTION, code);
    ck_assert_str_eq(S(psb_outcome_error_type(o)), "ValueError");
    ck_assert_str_eq(S(psb_outcome_error_message(o)), "boom");
    const char *tb = psb_outcome_error_traceback(o);
    ck_clean_traceback(tb);
    ck_assert_msg(strstr(tb, "line 1") || strstr(tb, code), "traceback lacks line 1: %s", tb);
    ck_contains(tb, "ValueError", "traceback");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_exception_user_class) {
    const char *code = "class MyError(Exception):\n    pass\n"
                       "raise MyError('h\u00e9 \u2603')";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_EXCEPTION, code);
    ck_assert_str_eq(S(psb_outcome_error_type(o)), "MyError");
    ck_assert_str_eq(S(psb_outcome_error_message(o)), "h\xc3\xa9 \xe2\x98\x83");
    ck_clean_traceback(psb_outcome_error_traceback(o));
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_exception_in_function) {
    const char *code = "def f():\n    raise KeyError('k')\n\nf()\n";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_EXCEPTION, code);
    ck_assert_str_eq(S(psb_outcome_error_type(o)), "KeyError");
    const char *tb = psb_outcome_error_traceback(o);
    ck_clean_traceback(tb);
    ck_contains(tb, "line 4", "traceback");
    ck_contains(tb, "line 2", "traceback");
    ck_contains(tb, "in f", "traceback");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_syntax_error) {
    const char *code = "def f(:";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_SYNTAX_ERROR, code);
    ck_assert_str_eq(S(psb_outcome_error_type(o)), "SyntaxError");
    ck_assert_msg(psb_outcome_error_message(o) && psb_outcome_error_message(o)[0],
                  "empty message: %s", describe(o));
    psb_outcome_free(o);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* import_denied and the import filter                                      */
/* ------------------------------------------------------------------------ */

static void expect_import_denied(const psb_outcome *o, const char *module, const char *code) {
    expect_kind(o, PSB_KIND_IMPORT_DENIED, code);
    ck_assert_msg(psb_outcome_error_module(o) && strcmp(psb_outcome_error_module(o), module) == 0,
                  "code %s: expected module %s: %s", code, module, describe(o));
    ck_contains(psb_outcome_error_message(o), module, "message");
}

START_TEST(test_import_denied_default) {
    const char *code = "import socket";
    psb_outcome *o = run(code, NULL);
    expect_import_denied(o, "socket", code);
    ck_contains(psb_outcome_error_message(o), "'socket'", "message");
    ck_icontains(psb_outcome_error_message(o), "sandbox policy", "message");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_import_denied_option) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_deny_import(opt, "json", &err), &err, "deny_import");
    psb_outcome *o = run("import json", opt);
    expect_import_denied(o, "json", "import json");
    psb_outcome_free(o);
    /* Without the rule json is fine. */
    o = run("import json\nresult = json.loads('[1]')", NULL);
    expect_result(o, "[1]", "import json");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_import_allow_override) {
    /* On a default-deny policy, allow_import opens one module. */
    psb_sandbox *strict = sandbox_create_policy("strict");
    const char *code = "import pathlib\nresult = pathlib.PurePosixPath('a/b').name";
    psb_outcome *o = run_on(strict, code, NULL);
    expect_import_denied(o, "pathlib", code);
    psb_outcome_free(o);
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_allow_import(opt, "pathlib", &err), &err, "allow_import pathlib");
    o = run_on(strict, code, opt);
    expect_result(o, "\"b\"", code);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
    psb_sandbox_free(strict);

    /* An option rule replaces the policy's rule for the same module
     * (pysandbox.h): the default policy denies socket, allow_import opens it. */
    opt = opts_new();
    ck_psb(psb_exec_options_allow_import(opt, "socket", &err), &err, "allow_import socket");
    code = "import socket\nresult = 1";
    o = run(code, opt);
    expect_result(o, "1", code);
    psb_outcome_free(o);
    /* ...but allowing the module does not open the network. */
    code = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)";
    o = run(code, opt);
    expect_kind(o, PSB_KIND_DENIED, code);
    ck_assert_msg(psb_outcome_error_event(o) &&
                      strncmp(psb_outcome_error_event(o), "socket.", 7) == 0,
                  "expected a socket.* event: %s", describe(o));
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_import_denied_cached_module) {
    /* fnmatch imports os for itself, so os is in sys.modules when user code
     * asks for it; the filter must still refuse it. */
    psb_outcome *o = run("import os\nresult = os.sep", NULL);
    expect_result(o, "\"/\"", "import os");
    psb_outcome_free(o);

    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_deny_import(opt, "os", &err), &err, "deny_import");
    const char *code = "import fnmatch, sys\nassert 'os' in sys.modules\nimport os";
    o = run(code, opt);
    expect_import_denied(o, "os", code);
    psb_outcome_free(o);
    o = run("from os import getcwd", opt);
    expect_import_denied(o, "os", "from os import getcwd");
    psb_outcome_free(o);
    o = run("import os.path", opt);
    expect_kind(o, PSB_KIND_IMPORT_DENIED, "import os.path");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_import_denied_import_module) {
    const char *code = "import importlib\nimportlib.import_module(\"socket\")";
    psb_outcome *o = run(code, NULL);
    expect_import_denied(o, "socket", code);
    psb_outcome_free(o);
    code = "__import__('socket')";
    o = run(code, NULL);
    expect_import_denied(o, "socket", code);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_import_internal_allowed) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    /* json imports re internally; fnmatch imports os and re. */
    ck_psb(psb_exec_options_deny_import(opt, "re", &err), &err, "deny re");
    ck_psb(psb_exec_options_deny_import(opt, "os", &err), &err, "deny os");
    psb_outcome *o = run("import json\nresult = json.dumps([1])", opt);
    expect_result(o, "\"[1]\"", "import json with re denied");
    psb_outcome_free(o);
    o = run("import fnmatch\nresult = fnmatch.fnmatch('a.txt', '*.txt')", opt);
    expect_result(o, "true", "import fnmatch with os, re denied");
    psb_outcome_free(o);
    o = run("import re", opt);
    expect_import_denied(o, "re", "import re");
    psb_outcome_free(o);
    o = run("import os", opt);
    expect_import_denied(o, "os", "import os");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* denied: files and processes                                              */
/* ------------------------------------------------------------------------ */

static void expect_denied(const psb_outcome *o, const char *event, const char *code) {
    expect_kind(o, PSB_KIND_DENIED, code);
    ck_assert_msg(psb_outcome_error_event(o) && strcmp(psb_outcome_error_event(o), event) == 0,
                  "code %s: expected event %s: %s", code, event, describe(o));
    ck_assert_msg(psb_outcome_error_message(o) && psb_outcome_error_message(o)[0],
                  "denied without a message: %s", describe(o));
}

START_TEST(test_denied_read_shadow) {
    const char *code = "result = open(\"/etc/shadow\").read()";
    psb_outcome *o = run(code, NULL);
    expect_denied(o, "open", code);
    ck_assert_str_eq(psb_outcome_result_json(o), "null");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_denied_os_system) {
    const char *code = "import os\nos.system(\"true\")";
    psb_outcome *o = run(code, NULL);
    expect_denied(o, "os.system", code);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_denied_write_outside) {
    char path[128], code[256];
    snprintf(path, sizeof path, "/tmp/psb_test_outside_%ld_%d", (long)getpid(), rand());
    unlink(path);
    snprintf(code, sizeof code, "open(\"%s\", \"w\").write(\"x\")", path);
    psb_outcome *o = run(code, NULL);
    expect_denied(o, "open", code);
    int exists = access(path, F_OK) == 0;
    unlink(path);
    ck_assert_msg(!exists, "%s was created by the sandboxed code", path);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_not_root) {
    /* Even when the host runs as root, the child does not. */
    check_result("import os\nresult = [os.getuid() != 0, os.geteuid() != 0,"
                 " os.getgid() != 0]",
                 "[true,true,true]");
}
END_TEST

START_TEST(test_scratch_write_ok) {
    check_result("open(\"a.txt\", \"w\").write(\"hi\")\nresult = open(\"a.txt\").read()", "\"hi\"");
    /* A fresh child gets a fresh scratch dir. */
    check_result("import os\nresult = os.path.exists(\"a.txt\")", "false");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* kernel layers: with the Python hooks opened up by the policy, the kernel  */
/* must still refuse network and processes (DESIGN: "every security          */
/* guarantee comes from the kernel layers").                                 */
/* ------------------------------------------------------------------------ */

START_TEST(test_kernel_blocks_loopback_connect) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    socklen_t alen = sizeof addr;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);

    char code[512];
    snprintf(code, sizeof code,
             "try:\n"
             "    import socket\n"
             "    s = socket.create_connection(('127.0.0.1', %d), timeout=3)\n"
             "    s.sendall(b'leak')\n"
             "    result = 'connected'\n"
             "except BaseException as e:\n"
             "    result = 'blocked: ' + type(e).__name__\n",
             (int)ntohs(addr.sin_port));
    psb_sandbox *s = sandbox_create_kernel_only();
    psb_outcome *o = run_on(s, code, NULL);
    const char *res = psb_outcome_result_json(o);
    int connected = psb_outcome_ok(o) && res && strstr(res, "connected") != NULL;
    /* cppcheck-suppress nullPointer ; accept4(2) takes NULL addr and addrlen */
    int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int accept_errno = errno;
    ck_assert_msg(!connected, "the child reached a host loopback socket: %s", describe(o));
    ck_assert_msg(afd < 0 && (accept_errno == EAGAIN || accept_errno == EWOULDBLOCK),
                  "the host listener accepted a connection from the child: %s", describe(o));
    psb_outcome_free(o);
    psb_sandbox_free(s);
    close(lfd);
}
END_TEST

START_TEST(test_kernel_blocks_subprocess) {
    const char *code = "try:\n"
                       "    import subprocess\n"
                       "    r = subprocess.run(['/bin/echo', 'spawned'],"
                       " capture_output=True, timeout=5)\n"
                       "    result = r.stdout.decode()\n"
                       "except BaseException as e:\n"
                       "    result = 'blocked: ' + type(e).__name__\n";
    psb_sandbox *s = sandbox_create_kernel_only();
    psb_outcome *o = run_on(s, code, NULL);
    const char *res = psb_outcome_result_json(o);
    ck_assert_msg(!(res && strstr(res, "spawned")), "the child started a process: %s", describe(o));
    psb_outcome_free(o);
    psb_sandbox_free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* limits: timeout, memory, cpu; crashes                                    */
/* ------------------------------------------------------------------------ */

static psb_exec_options *opts_timeout(uint64_t ms) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_timeout_ms(opt, ms, &err), &err, "set_timeout_ms");
    return opt;
}

START_TEST(test_timeout_busy) {
    psb_exec_options *opt = opts_timeout(1000);
    const char *code = "while True: pass";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_TIMEOUT, code);
    psb_stats st;
    psb_outcome_stats(o, &st);
    ck_assert_msg(st.wall_ms >= 900 && st.wall_ms <= 2500, "wall_ms %" PRIu64 " not in [900, 2500]",
                  st.wall_ms);
    const char *tb = psb_outcome_error_traceback(o);
    if (tb != NULL)
        ck_contains(tb, "line 1", "traceback");
    psb_outcome_free(o);
    /* The sandbox keeps working after a killed child. */
    o = run("result = 3", opt);
    expect_result(o, "3", "result = 3 after a timeout");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_timeout_sleep) {
    psb_exec_options *opt = opts_timeout(1000);
    const char *code = "import time\ntime.sleep(100)";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_TIMEOUT, code);
    psb_stats st;
    psb_outcome_stats(o, &st);
    ck_assert_msg(st.wall_ms >= 900 && st.wall_ms <= 2500, "wall_ms %" PRIu64 " not in [900, 2500]",
                  st.wall_ms);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_timeout_keeps_output) {
    psb_exec_options *opt = opts_timeout(1000);
    const char *code = "print(\"before\", flush=True)\nwhile True: pass";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_TIMEOUT, code);
    size_t len = 0;
    const char *out = psb_outcome_stdout(o, &len, NULL);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "before\n");
    ck_assert_uint_eq(len, 7);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_timeout_ignores_signals) {
    /* The kill must not depend on the child's cooperation. */
    psb_exec_options *opt = opts_timeout(1000);
    const char *code = "import signal\n"
                       "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM,"
                       " signal.SIGHUP):\n"
                       "    signal.signal(s, signal.SIG_IGN)\n"
                       "while True:\n"
                       "    try:\n"
                       "        pass\n"
                       "    except BaseException:\n"
                       "        pass\n";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_TIMEOUT, code);
    psb_stats st;
    psb_outcome_stats(o, &st);
    ck_assert_msg(st.wall_ms >= 900 && st.wall_ms <= 2500, "wall_ms %" PRIu64 " not in [900, 2500]",
                  st.wall_ms);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_memory_limit) {
#ifdef PSB_SANITIZE
    printf("test_memory_limit: skipped in a sanitizer build (ASan's allocator exits instead of "
           "returning NULL when RLIMIT_AS runs out: crashed, not memory_limit)\n");
    return;
#endif
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_memory_limit_mib(opt, 128, &err), &err, "set_memory_limit_mib");
    const char *code = "x = bytearray(512*1024*1024)";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_MEMORY_LIMIT, code);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_memory_within_limit) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_memory_limit_mib(opt, 256, &err), &err, "set_memory_limit_mib");
    const char *code = "x = bytearray(32*1024*1024)\nresult = len(x)";
    psb_outcome *o = run(code, opt);
    expect_result(o, "33554432", code);
    psb_stats st;
    psb_outcome_stats(o, &st);
    ck_assert_msg(st.peak_rss_kib >= 32 * 1024, "peak_rss_kib %" PRIu64, st.peak_rss_kib);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_cpu_limit) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_timeout(10000);
    ck_psb(psb_exec_options_set_cpu_limit_s(opt, 1, &err), &err, "set_cpu_limit_s");
    const char *code = "while True: pass";
    psb_outcome *o = run(code, opt);
    expect_kind(o, PSB_KIND_CPU_LIMIT, code);
    psb_stats st;
    psb_outcome_stats(o, &st);
    ck_assert_msg(st.cpu_ms >= 800, "cpu_ms %" PRIu64, st.cpu_ms);
    ck_assert_msg(st.wall_ms < 9000, "wall_ms %" PRIu64, st.wall_ms);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_crashed) {
    const char *code = "import faulthandler\nfaulthandler._sigsegv()";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_CRASHED, code);
    ck_contains(psb_outcome_error_message(o), "SIGSEGV", "message");
    psb_outcome_free(o);
    /* The sandbox keeps working after a crashed child. */
    check_result("result = 4", "4");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* request validation (invalid_request at the API level)                    */
/* ------------------------------------------------------------------------ */

static void expect_einval(psb_status st, const psb_error *err, const char *what) {
    ck_assert_msg(st == PSB_EINVAL, "%s: expected EINVAL, got %s", what, psb_status_str(st));
    ck_assert_msg(err->code == PSB_EINVAL, "%s: err.code %d", what, (int)err->code);
    ck_assert_msg(err->message[0] != '\0', "%s: empty error message", what);
}

START_TEST(test_invalid_code) {
    static const char nul_code[] = "a = 1\0b = 2";
    static const char bad_utf8[] = "result = '\xff\xfe'";
    static const char overlong[] = "result = '\xc0\xaf'";
    psb_error err = ERR_INIT;
    psb_outcome *o = NULL;
    psb_status st = psb_exec(sb, nul_code, sizeof nul_code - 1, NULL, &o, &err);
    expect_einval(st, &err, "code with NUL");
    ck_assert_ptr_null(o);

    psb_error err2 = ERR_INIT;
    st = psb_exec(sb, bad_utf8, strlen(bad_utf8), NULL, &o, &err2);
    expect_einval(st, &err2, "code not UTF-8");
    ck_assert_ptr_null(o);

    psb_error err3 = ERR_INIT;
    st = psb_exec(sb, overlong, strlen(overlong), NULL, &o, &err3);
    expect_einval(st, &err3, "overlong UTF-8");
    ck_assert_ptr_null(o);

    /* Valid code still runs afterwards. */
    check_result("result = 'ok'", "\"ok\"");
}
END_TEST

START_TEST(test_invalid_options) {
    psb_exec_options *opt = opts_new();
    psb_error err = ERR_INIT;

    expect_einval(psb_exec_options_set_inputs_json(opt, "[1]", 3, &err), &err, "inputs [1]");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_inputs_json(opt, "{bad", 4, &err), &err, "inputs {bad");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_timeout_ms(opt, 0, &err), &err, "timeout 0");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_timeout_ms(opt, 24ull * 3600 * 1000 + 1, &err), &err,
                  "timeout > 24 h");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_memory_limit_mib(opt, 1, &err), &err, "memory 1 MiB");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_cpu_limit_s(opt, 0, &err), &err, "cpu 0");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_env(opt, "1BAD", "x", &err), &err, "env 1BAD");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_env(opt, "A=B", "x", &err), &err, "env A=B");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_env(opt, "", "x", &err), &err, "env ''");
    err = (psb_error)ERR_INIT;
    expect_einval(psb_exec_options_set_result_limit_bytes(opt, 1, &err), &err, "result limit 1");

    /* Rejected settings changed nothing: the options still run with defaults. */
    psb_outcome *o = run("result = type(inputs).__name__", opt);
    expect_result(o, "\"dict\"", "options after rejected settings");
    psb_outcome_free(o);

    /* Good values are accepted. */
    err = (psb_error)ERR_INIT;
    ck_psb(psb_exec_options_set_inputs_json(opt, "{\"a\": 1}", 8, &err), &err, "inputs {a:1}");
    ck_psb(psb_exec_options_set_env(opt, "_GOOD_1", "x=y", &err), &err, "env");
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_invalid_policy) {
    psb_error err = ERR_INIT;
    psb_config *cfg = psb_config_new(&err);
    ck_assert_ptr_nonnull(cfg);
    psb_status st = psb_config_set_policy(cfg, "no-such-preset-xyz", &err);
    ck_assert_msg(st == PSB_EPOLICY || st == PSB_EINVAL, "unknown preset: %s", psb_status_str(st));
    ck_assert_int_eq(err.code, st);
    ck_assert_msg(err.message[0] != '\0', "empty message");

    psb_error err2 = ERR_INIT;
    st = psb_config_set_policy_json(cfg, "{not json", &err2);
    ck_assert_msg(st == PSB_EPOLICY || st == PSB_EINVAL, "bad policy JSON: %s", psb_status_str(st));
    ck_assert_msg(err2.message[0] != '\0', "empty message");

    psb_error err3 = ERR_INIT;
    ck_psb(psb_config_set_policy(cfg, "strict", &err3), &err3, "strict preset");
    ck_psb(psb_config_set_policy(cfg, "default", &err3), &err3, "default preset");
    psb_error err4 = ERR_INIT;
    expect_einval(psb_config_set_max_concurrency(cfg, 0, &err4), &err4, "max_concurrency 0");
    psb_config_free(cfg);
}
END_TEST

START_TEST(test_free_null_and_names) {
    psb_config_free(NULL);
    psb_sandbox_free(NULL);
    psb_exec_options_free(NULL);
    psb_outcome_free(NULL);
    ck_assert_str_eq(psb_status_str(PSB_OK), "success");
    ck_assert_str_eq(psb_status_str(PSB_EINVAL), "invalid argument");
    ck_assert_str_eq(psb_error_kind_name(PSB_KIND_NONE), "none");
    ck_assert_str_eq(psb_error_kind_name(PSB_KIND_TIMEOUT), "timeout");
    ck_assert_str_eq(psb_error_kind_name(PSB_KIND_RESULT_NOT_SERIALIZABLE),
                     "result_not_serializable");
    ck_assert_str_eq(psb_error_kind_name(PSB_KIND_INTERNAL), "internal");
    ck_assert_str_eq(psb_error_kind_name((psb_error_kind)999), "internal");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* output capture, inputs, stdin, env, prelude                              */
/* ------------------------------------------------------------------------ */

START_TEST(test_capture_streams) {
    const char *code = "import sys, os\n"
                       "print('p1')\n"
                       "sys.stdout.write('w1\\n')\n"
                       "sys.stderr.write('e1\\n')\n"
                       "os.write(1, b'raw\\n')\n"
                       "os.write(2, b'rawerr\\n')\n"
                       "result = 0";
    psb_outcome *o = run(code, NULL);
    expect_result(o, "0", code);
    size_t olen = 0, elen = 0;
    int otr = 1, etr = 1;
    const char *out = psb_outcome_stdout(o, &olen, &otr);
    const char *err = psb_outcome_stderr(o, &elen, &etr);
    ck_contains(out, "p1\n", "stdout");
    ck_contains(out, "w1\n", "stdout");
    ck_contains(out, "raw\n", "stdout");
    ck_assert_uint_eq(olen, strlen("p1\nw1\nraw\n"));
    ck_contains(err, "e1\n", "stderr");
    ck_contains(err, "rawerr\n", "stderr");
    ck_assert_uint_eq(elen, strlen("e1\nrawerr\n"));
    ck_assert_int_eq(otr, 0);
    ck_assert_int_eq(etr, 0);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_output_cap) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_output_limits(opt, 100, 100, &err), &err, "set_output_limits");
    const char *code = "print('a' * 10000)\nresult = 1";
    psb_outcome *o = run(code, opt);
    expect_result(o, "1", code);
    size_t len = 0, elen = 99;
    int tr = 0, etr = 1;
    const char *out = psb_outcome_stdout(o, &len, &tr);
    psb_outcome_stderr(o, &elen, &etr);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(tr, 1);
    ck_assert_uint_eq(strspn(out, "a"), 100);
    ck_assert_uint_eq(elen, 0);
    ck_assert_int_eq(etr, 0);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_output_flood) {
    /* 5 MiB on each stream, interleaved: must not deadlock; capped at 1 MiB. */
    psb_exec_options *opt = opts_timeout(60000);
    const char *code = "import sys\n"
                       "line = 'x' * 1023 + '\\n'\n"
                       "for i in range(5 * 1024):\n"
                       "    sys.stdout.write(line)\n"
                       "    sys.stderr.write(line)\n"
                       "result = 'done'";
    psb_outcome *o = run(code, opt);
    expect_result(o, "\"done\"", code);
    size_t olen = 0, elen = 0;
    int otr = 0, etr = 0;
    psb_outcome_stdout(o, &olen, &otr);
    psb_outcome_stderr(o, &elen, &etr);
    ck_assert_uint_eq(olen, 1024 * 1024);
    ck_assert_uint_eq(elen, 1024 * 1024);
    ck_assert_int_eq(otr, 1);
    ck_assert_int_eq(etr, 1);
    psb_stats st;
    psb_outcome_stats(o, &st);
    ck_assert_msg(st.wall_ms < 30000, "flood took %" PRIu64 " ms", st.wall_ms);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_inputs) {
    static const char inputs[] = "{\"x\": 21, \"s\": \"hi\", \"l\": [1,2], \"n\": null}";
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_inputs_json(opt, inputs, strlen(inputs), &err), &err,
           "set_inputs_json");
    const char *code = "result = [inputs['x'] * 2, inputs['s'].upper(), "
                       "sum(inputs['l']), inputs['n'] is None, "
                       "type(inputs).__name__, sorted(inputs)]";
    psb_outcome *o = run(code, opt);
    expect_result(o, "[42,\"HI\",3,true,\"dict\",[\"l\",\"n\",\"s\",\"x\"]]", code);
    psb_outcome_free(o);
    /* Non-ASCII text and nested values survive the round trip. */
    static const char inputs2[] = "{\"s\": \"h\u00e9 \u2603\", \"d\": {\"f\": 0.5}}";
    ck_psb(psb_exec_options_set_inputs_json(opt, inputs2, strlen(inputs2), &err), &err,
           "set_inputs_json");
    code = "result = [inputs['s'], len(inputs['s']), inputs['d']['f'] * 2]";
    o = run(code, opt);
    expect_result(o, "[\"h\u00e9 \u2603\",4,1.0]", code);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_stdin) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_stdin(opt, "hello\n", 6, &err), &err, "set_stdin");
    const char *code = "import sys\nresult = sys.stdin.read()";
    psb_outcome *o = run(code, opt);
    expect_result(o, "\"hello\\n\"", code);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
    /* Without stdin the child reads /dev/null. */
    o = run(code, NULL);
    expect_result(o, "\"\"", code);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_stdin_large) {
    /* 4 MiB of stdin: read whole, and ignored (the child exits unread). */
    size_t len = 4u << 20;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    memset(data, 'a', len);
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_stdin(opt, data, len, &err), &err, "set_stdin");
    free(data);
    const char *code = "import sys\nd = sys.stdin.buffer.read()\n"
                       "result = [len(d), d.count(b'a')]";
    psb_outcome *o = run(code, opt);
    expect_result(o, "[4194304,4194304]", code);
    psb_outcome_free(o);
    o = run("result = 'unread'", opt);
    expect_result(o, "\"unread\"", "stdin not read");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_env) {
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_env(opt, "FOO", "bar", &err), &err, "set_env");
    ck_psb(psb_exec_options_set_env(opt, "FOO2", "first", &err), &err, "set_env");
    ck_psb(psb_exec_options_set_env(opt, "FOO2", "second", &err), &err, "set_env");
    const char *code = "import os\n"
                       "result = [os.environ['FOO'], os.environ['FOO2'],"
                       " os.path.realpath(os.environ['HOME']) =="
                       " os.path.realpath(os.getcwd())]";
    psb_outcome *o = run(code, opt);
    expect_result(o, "[\"bar\",\"second\",true]", code);
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_env_host_not_leaked) {
    /* Set in the test process before its sandbox (and helper) exists. */
    ck_assert_int_eq(setenv("PSB_SECRET_TEST", "x", 1), 0);
    psb_sandbox *s = sandbox_create();
    const char *code = "import os\nresult = os.environ.get('PSB_SECRET_TEST')";
    psb_outcome *o = run_on(s, code, NULL);
    expect_result(o, "null", code);
    psb_outcome_free(o);
    psb_sandbox_free(s);
    unsetenv("PSB_SECRET_TEST");
}
END_TEST

START_TEST(test_prelude) {
    static const char prelude[] = "def helper(x): return x + 1\n";
    psb_error err = ERR_INIT;
    psb_exec_options *opt = opts_new();
    ck_psb(psb_exec_options_set_prelude(opt, prelude, strlen(prelude), &err), &err, "set_prelude");
    psb_outcome *o = run("result = helper(1)", opt);
    expect_result(o, "2", "result = helper(1)");
    psb_outcome_free(o);
    psb_exec_options_free(opt);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* statistics and the outcome JSON                                          */
/* ------------------------------------------------------------------------ */

START_TEST(test_stats) {
    const char *code = "result = sum(range(10**7))";
    psb_outcome *o = run(code, NULL);
    expect_result(o, "49999995000000", code);
    psb_stats st;
    memset(&st, 0, sizeof st);
    psb_outcome_stats(o, &st);
    ck_assert_msg(st.wall_ms > 0, "wall_ms %" PRIu64, st.wall_ms);
    ck_assert_msg(st.cpu_ms > 0, "cpu_ms %" PRIu64, st.cpu_ms);
    ck_assert_msg(st.peak_rss_kib > 0, "peak_rss_kib %" PRIu64, st.peak_rss_kib);
    ck_assert_msg(st.wall_ms < 30000, "wall_ms %" PRIu64, st.wall_ms);
    psb_outcome_free(o);
}
END_TEST

static json_t *outcome_json(const psb_outcome *o) {
    static const char *const keys[] = {"status", "result",           "stdout", "stdout_truncated",
                                       "stderr", "stderr_truncated", "error",  "stats"};
    const char *text = psb_outcome_json(o);
    ck_assert_ptr_nonnull(text);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "outcome JSON does not parse: %s: %s", je.text, text);
    ck_assert(json_is_object(j));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_object_get(j, keys[i]) != NULL, "outcome JSON lacks '%s': %s", keys[i],
                      text);
    json_t *stats = json_object_get(j, "stats");
    ck_assert(json_is_object(stats));
    ck_assert(json_is_integer(json_object_get(stats, "wall_ms")));
    return j;
}

START_TEST(test_outcome_json_ok) {
    psb_outcome *o = run("print('out')\nresult = {'a': [1, 2]}", NULL);
    expect_kind(o, PSB_KIND_NONE, "outcome json ok");
    json_t *j = outcome_json(o);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    json_t *expect = json_loads("{\"a\":[1,2]}", 0, NULL);
    ck_assert(json_equal(json_object_get(j, "result"), expect));
    json_decref(expect);
    ck_assert_str_eq(json_string_value(json_object_get(j, "stdout")), "out\n");
    ck_assert_str_eq(json_string_value(json_object_get(j, "stderr")), "");
    ck_assert(json_is_false(json_object_get(j, "stdout_truncated")));
    ck_assert(json_is_false(json_object_get(j, "stderr_truncated")));
    ck_assert(json_is_null(json_object_get(j, "error")));
    json_decref(j);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_outcome_json_error) {
    const char *code = "import sys\nsys.stdout.buffer.write(b'a\\xffb')\n"
                       "raise ValueError('boom')";
    psb_outcome *o = run(code, NULL);
    expect_kind(o, PSB_KIND_EXCEPTION, code);
    size_t len = 0;
    const char *raw = psb_outcome_stdout(o, &len, NULL);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(raw,
                     "a\xff"
                     "b",
                     3) == 0);
    json_t *j = outcome_json(o);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "error");
    ck_assert(json_is_null(json_object_get(j, "result")));
    /* Bytes that are not UTF-8 become U+FFFD in the JSON. */
    ck_assert_str_eq(json_string_value(json_object_get(j, "stdout")), "a\xef\xbf\xbd"
                                                                      "b");
    json_t *e = json_object_get(j, "error");
    ck_assert(json_is_object(e));
    ck_assert_str_eq(S(json_string_value(json_object_get(e, "kind"))), "exception");
    ck_assert_str_eq(S(json_string_value(json_object_get(e, "type"))), "ValueError");
    ck_assert_str_eq(S(json_string_value(json_object_get(e, "message"))), "boom");
    ck_contains(json_string_value(json_object_get(e, "traceback")), "line 3", "traceback");
    json_decref(j);
    psb_outcome_free(o);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* concurrency and fd hygiene                                               */
/* ------------------------------------------------------------------------ */

#define N_THREADS 4
#define N_PER_THREAD 50

struct worker {
    pthread_t tid;
    int index;
    int ok_count;
    char failure[512]; /* first failure, empty if none */
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    static const char code[] = "result = inputs[\"i\"] * 3";
    for (int k = 0; k < N_PER_THREAD; k++) {
        int n = w->index * 1000 + k;
        char inputs[64], expect[64];
        snprintf(inputs, sizeof inputs, "{\"i\": %d}", n);
        snprintf(expect, sizeof expect, "%d", n * 3);
        psb_error err = ERR_INIT;
        psb_exec_options *opt = psb_exec_options_new(&err);
        psb_outcome *o = NULL;
        psb_status st =
            opt ? psb_exec_options_set_inputs_json(opt, inputs, strlen(inputs), &err) : PSB_ENOMEM;
        if (st == PSB_OK)
            st = psb_exec(sb, code, strlen(code), opt, &o, &err);
        if (st != PSB_OK) {
            if (!w->failure[0])
                snprintf(w->failure, sizeof w->failure, "n=%d: %s: %.400s", n, psb_status_str(st),
                         err.message);
        } else if (!psb_outcome_ok(o) || strcmp(psb_outcome_result_json(o), expect) != 0) {
            if (!w->failure[0])
                snprintf(w->failure, sizeof w->failure,
                         "n=%d: kind %s message %s result %s, expected %s", n,
                         psb_error_kind_name(psb_outcome_error_kind(o)),
                         S(psb_outcome_error_message(o)), S(psb_outcome_result_json(o)), expect);
        } else {
            w->ok_count++;
        }
        psb_outcome_free(o);
        psb_exec_options_free(opt);
    }
    return NULL;
}

START_TEST(test_concurrency) {
    struct worker w[N_THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < N_THREADS; i++) {
        w[i].index = i;
        ck_assert_int_eq(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        ck_assert_int_eq(pthread_join(w[i].tid, NULL), 0);
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_msg(w[i].failure[0] == '\0', "thread %d: %s", i, w[i].failure);
        ck_assert_int_eq(w[i].ok_count, N_PER_THREAD);
    }
}
END_TEST

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

START_TEST(test_fd_hygiene) {
    /* One run first, so lazily created resources exist before counting. */
    check_result("result = 0", "0");
    int before = count_fds();
    for (int i = 0; i < 1000; i++) {
        psb_outcome *o = run("result = 1", NULL);
        ck_assert_msg(psb_outcome_ok(o), "run %d: %s", i, describe(o));
        psb_outcome_free(o);
    }
    int after = count_fds();
    ck_assert_msg(after <= before, "fds grew from %d to %d over 1000 runs", before, after);
}
END_TEST

/* ------------------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name, int fixture, double timeout_s) {
    TCase *tc = psb_tcase_create(name);
    if (fixture)
        tcase_add_checked_fixture(tc, sandbox_setup, sandbox_teardown);
    tcase_set_timeout(tc, timeout_s);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *api_suite(void) {
    Suite *s = suite_create("api");
    TCase *tc = tcase(s, "ok", 1, 120);
    tcase_add_test(tc, test_ok_simple);
    tcase_add_test(tc, test_ok_conversions);
    tcase_add_test(tc, test_ok_bigint);
    tcase_add_test(tc, test_ok_nonfinite_float);
    tcase_add_test(tc, test_ok_int_keys);
    tcase_add_test(tc, test_ok_no_result);

    tc = tcase(s, "serialize", 1, 120);
    tcase_add_test(tc, test_not_serializable_object);
    tcase_add_test(tc, test_not_serializable_cycle);
    tcase_add_test(tc, test_not_serializable_depth);
    tcase_add_test(tc, test_result_limit);

    tc = tcase(s, "exception", 1, 120);
    tcase_add_test(tc, test_exception_simple);
    tcase_add_test(tc, test_exception_user_class);
    tcase_add_test(tc, test_exception_in_function);
    tcase_add_test(tc, test_syntax_error);

    tc = tcase(s, "import", 1, 120);
    tcase_add_test(tc, test_import_denied_default);
    tcase_add_test(tc, test_import_denied_option);
    tcase_add_test(tc, test_import_allow_override);
    tcase_add_test(tc, test_import_denied_cached_module);
    tcase_add_test(tc, test_import_denied_import_module);
    tcase_add_test(tc, test_import_internal_allowed);

    tc = tcase(s, "denied", 1, 120);
    tcase_add_test(tc, test_denied_read_shadow);
    tcase_add_test(tc, test_denied_os_system);
    tcase_add_test(tc, test_denied_write_outside);
    tcase_add_test(tc, test_not_root);
    tcase_add_test(tc, test_scratch_write_ok);

    tc = tcase(s, "limits", 1, 120);
    tcase_add_test(tc, test_timeout_busy);
    tcase_add_test(tc, test_timeout_sleep);
    tcase_add_test(tc, test_timeout_keeps_output);
    tcase_add_test(tc, test_timeout_ignores_signals);
    tcase_add_test(tc, test_memory_limit);
    tcase_add_test(tc, test_memory_within_limit);
    tcase_add_test(tc, test_cpu_limit);
    tcase_add_test(tc, test_crashed);

    tc = tcase(s, "validation", 1, 120);
    tcase_add_test(tc, test_invalid_code);
    tcase_add_test(tc, test_invalid_options);

    tc = tcase(s, "no_sandbox", 0, 120);
    tcase_add_test(tc, test_invalid_policy);
    tcase_add_test(tc, test_free_null_and_names);

    tc = tcase(s, "io", 1, 120);
    tcase_add_test(tc, test_capture_streams);
    tcase_add_test(tc, test_output_cap);
    tcase_add_test(tc, test_output_flood);
    tcase_add_test(tc, test_stream_matches_outcome);
    tcase_add_test(tc, test_cancel_while_running);
    tcase_add_test(tc, test_cancel_while_waiting);
    tcase_add_test(tc, test_cancel_null_and_args);
    tcase_add_test(tc, test_inputs);
    tcase_add_test(tc, test_stdin);
    tcase_add_test(tc, test_stdin_large);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_prelude);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_outcome_json_ok);
    tcase_add_test(tc, test_outcome_json_error);

    tc = tcase(s, "kernel", 0, 120);
    tcase_add_test(tc, test_kernel_blocks_loopback_connect);
    tcase_add_test(tc, test_kernel_blocks_subprocess);

    tc = tcase(s, "env_isolation", 0, 120);
    tcase_add_test(tc, test_env_host_not_leaked);

    tc = tcase(s, "stress", 1, 600);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_fd_hygiene);
    return s;
}

int main(void) {
    return psb_test_run(api_suite());
}
