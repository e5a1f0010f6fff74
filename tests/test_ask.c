/*
 * test_ask.c - what a notebook front end asks of a session besides cells:
 * completion, help, whether a block is complete and watch expressions
 * (psb_session_ask()), answered from the session's own namespace without
 * touching it; and input() answered by the host (the input callback), in
 * a session and in a one-shot execution, with prompts a hostile child
 * makes.
 */

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pysandbox.h>

#include "tests/suite.h"

static psb_sandbox *sb;

static void setup(void) {
    psb_error err = {.code = PSB_OK};
    psb_config *cfg = psb_config_new(&err);
    ck_assert_ptr_nonnull(cfg);
    psb_status st = psb_sandbox_new(cfg, &sb, &err);
    psb_config_free(cfg);
    ck_assert_msg(st == PSB_OK, "psb_sandbox_new: %s", err.message);
}

static void teardown(void) {
    psb_sandbox_free(sb);
    sb = NULL;
}

static psb_session *session(void) {
    psb_error err = {.code = PSB_OK};
    psb_session *s = NULL;
    psb_status st = psb_session_new(sb, NULL, &s, &err);
    ck_assert_msg(st == PSB_OK, "psb_session_new: %s", err.message);
    return s;
}

static psb_outcome *cell(psb_session *s, const char *code, const psb_exec_options *o) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *out = NULL;
    ck_assert_int_eq(psb_session_exec(s, code, strlen(code), o, &out, &err), PSB_OK);
    return out;
}

/* The answer to a question, parsed; the outcome must be ok. */
static json_t *ask(psb_session *s, psb_ask q, const char *code, size_t cursor) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *out = NULL;
    psb_status st = psb_session_ask(s, q, code, strlen(code), cursor, NULL, &out, &err);
    ck_assert_msg(st == PSB_OK, "psb_session_ask: %s", err.message);
    ck_assert_msg(psb_outcome_ok(out), "ask %s: %s", code, psb_outcome_json(out));
    json_t *j = json_loads(psb_outcome_result_json(out), 0, NULL);
    ck_assert_ptr_nonnull(j);
    psb_outcome_free(out);
    return j;
}

static bool has_match(const json_t *answer, const char *want) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(answer, "matches"), i,
                       m) if (strcmp(json_string_value(m), want) == 0) return true;
    return false;
}

START_TEST(test_complete_from_namespace) {
    psb_session *s = session();
    psb_outcome_free(
        cell(s, "sandbox_total = 41\nclass Box:\n    width_cm = 3\nbox = Box()", NULL));
    json_t *a = ask(s, PSB_ASK_COMPLETE, "x = sandbox_to", 14);
    ck_assert(has_match(a, "sandbox_total"));
    ck_assert_int_eq(json_integer_value(json_object_get(a, "cursor_start")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(a, "cursor_end")), 14);
    json_decref(a);
    a = ask(s, PSB_ASK_COMPLETE, "box.wid", 7);
    ck_assert(has_match(a, "box.width_cm"));
    json_decref(a);
    /* numpy is the warm helper's: its attributes complete without an import cell. */
    psb_outcome_free(cell(s, "import numpy as np", NULL));
    a = ask(s, PSB_ASK_COMPLETE, "np.arang", 8);
    ck_assert(has_match(a, "np.arange"));
    json_decref(a);
    /* Cursor in code points: "é" is two bytes, one point. */
    a = ask(s, PSB_ASK_COMPLETE, "s = 'é'; sandbox_t", 18);
    ck_assert(has_match(a, "sandbox_total"));
    ck_assert_int_eq(json_integer_value(json_object_get(a, "cursor_start")), 9);
    json_decref(a);
    /* Questions leave the namespace and the next cell alone. */
    psb_outcome *o = cell(s, "sandbox_total + 1", NULL);
    ck_assert(psb_outcome_ok(o));
    ck_assert_str_eq(psb_outcome_display_find(o, 0, "text/plain", NULL), "42");
    psb_outcome_free(o);
    psb_session_free(s);
}
END_TEST

START_TEST(test_inspect_and_is_complete) {
    psb_session *s = session();
    psb_outcome_free(cell(s,
                          "def scale(values, factor=2):\n    \"\"\"Multiplies every value.\"\"\"\n"
                          "    return [v * factor for v in values]",
                          NULL));
    json_t *a = ask(s, PSB_ASK_INSPECT, "scale(", 6);
    ck_assert(json_is_true(json_object_get(a, "found")));
    const char *text = json_string_value(json_object_get(json_object_get(a, "data"), "text/plain"));
    ck_assert_ptr_nonnull(strstr(text, "scale(values, factor=2)"));
    ck_assert_ptr_nonnull(strstr(text, "Multiplies every value."));
    json_decref(a);
    a = ask(s, PSB_ASK_INSPECT, "no_such_name", 3);
    ck_assert(json_is_false(json_object_get(a, "found")));
    json_decref(a);
    static const struct {
        const char *code, *status, *indent;
    } blocks[] = {
        {"x = 1", "complete", NULL},
        {"for i in range(3):", "incomplete", "    "},
        {"total = (1 +", "incomplete", ""},
        {"x = )", "invalid", NULL},
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        a = ask(s, PSB_ASK_IS_COMPLETE, blocks[i].code, 0);
        ck_assert_str_eq(json_string_value(json_object_get(a, "status")), blocks[i].status);
        if (blocks[i].indent)
            ck_assert_str_eq(json_string_value(json_object_get(a, "indent")), blocks[i].indent);
        json_decref(a);
    }
    psb_session_free(s);
}
END_TEST

START_TEST(test_expressions) {
    psb_session *s = session();
    psb_outcome_free(cell(s, "rows = [1, 2, 3]", NULL));
    json_t *a = ask(s, PSB_ASK_EXPRESSIONS, "{\"n\": \"len(rows)\", \"bad\": \"rows[9]\"}", 0);
    json_t *n = json_object_get(a, "n"), *bad = json_object_get(a, "bad");
    ck_assert_str_eq(json_string_value(json_object_get(n, "status")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(n, "data"), "text/plain")),
                     "3");
    ck_assert_str_eq(json_string_value(json_object_get(bad, "status")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(bad, "ename")), "IndexError");
    json_decref(a);
    /* An expression is user code: the import policy judges it. */
    a = ask(s, PSB_ASK_EXPRESSIONS, "{\"s\": \"__import__('socket')\"}", 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "s"), "ename")),
                     "ImportError");
    json_decref(a);
    psb_error err = {.code = PSB_OK};
    psb_outcome *out = NULL;
    ck_assert_int_eq(psb_session_ask(s, PSB_ASK_COMPLETE, "ab", 2, 3, NULL, &out, &err),
                     PSB_EINVAL);
    ck_assert_int_eq(psb_session_ask(s, (psb_ask)99, "ab", 2, 0, NULL, &out, &err), PSB_EINVAL);
    ck_assert_int_eq(psb_session_ask(NULL, PSB_ASK_COMPLETE, "ab", 2, 0, NULL, &out, &err),
                     PSB_EINVAL);
    ck_assert_ptr_null(out);
    psb_session_free(s);
}
END_TEST

/* The host's side of input(): the prompts it saw, and the lines it gives. */
struct answers {
    const char *lines[4];
    size_t next;
    char prompts[512];
    int passwords;
};

static char *answer(void *user, const char *prompt, int password) {
    struct answers *a = user;
    size_t used = strlen(a->prompts);
    snprintf(a->prompts + used, sizeof a->prompts - used, "[%s]", prompt);
    a->passwords += password;
    const char *line = a->lines[a->next];
    if (!line)
        return NULL;
    a->next++;
    return strdup(line);
}

static void output(void *user, int stream, const char *data, size_t len) {
    struct answers *a = user;
    (void)stream;
    size_t used = strlen(a->prompts);
    snprintf(a->prompts + used, sizeof a->prompts - used, "%.*s", (int)len, data);
}

START_TEST(test_input_in_session_and_exec) {
    psb_error err = {.code = PSB_OK};
    psb_exec_options *o = psb_exec_options_new(&err);
    struct answers a = {.lines = {"Ada", "hunter2", NULL}};
    ck_assert_int_eq(psb_exec_options_set_input_callback(o, answer, &a, &err), PSB_OK);
    ck_assert_int_eq(psb_exec_options_set_output_callback(o, output, &a, &err), PSB_OK);
    psb_session *s = session();
    psb_outcome *out =
        cell(s,
             "print('before')\nname = input('name? ')\nimport getpass\n"
             "secret = getpass.getpass()\ntry:\n    input('more? ')\nexcept EOFError:\n"
             "    eof = True\n(name, len(secret), eof)",
             o);
    ck_assert_msg(psb_outcome_ok(out), "%s", psb_outcome_json(out));
    ck_assert_str_eq(psb_outcome_display_find(out, 0, "text/plain", NULL), "('Ada', 7, True)");
    /* The output printed before the prompt came first (in however many chunks); the
     * prompt was not printed. */
    ck_assert_str_eq(a.prompts, "before\n[name? ][Password: ][more? ]");
    ck_assert_int_eq(a.passwords, 1);
    psb_outcome_free(out);
    /* A cell without the callback: input() is at the end of input again. */
    out = cell(s, "try:\n    input()\nexcept EOFError:\n    r = 'eof'\nr", NULL);
    ck_assert_str_eq(psb_outcome_display_find(out, 0, "text/plain", NULL), "'eof'");
    psb_outcome_free(out);
    psb_session_free(s);

    /* One-shot executions take it too; stdin and the callback exclude each other. */
    struct answers b = {.lines = {"7", NULL}};
    psb_exec_options *p = psb_exec_options_new(&err);
    ck_assert_int_eq(psb_exec_options_set_input_callback(p, answer, &b, &err), PSB_OK);
    const char *code = "result = int(input('n: ')) * 6";
    ck_assert_int_eq(psb_exec(sb, code, strlen(code), p, &out, &err), PSB_OK);
    ck_assert_str_eq(psb_outcome_result_json(out), "42");
    psb_outcome_free(out);
    ck_assert_int_eq(psb_exec_options_set_stdin(p, "x", 1, &err), PSB_EINVAL);
    psb_exec_options_free(p);
    psb_exec_options_free(o);
}
END_TEST

START_TEST(test_hostile_prompts) {
    /* The child writes INPUT frames itself: a bad flag byte is a broken reply, not a prompt. */
    psb_error err = {.code = PSB_OK};
    psb_exec_options *o = psb_exec_options_new(&err);
    struct answers a = {.lines = {NULL}};
    ck_assert_int_eq(psb_exec_options_set_input_callback(o, answer, &a, &err), PSB_OK);
    const char *code = "import os, struct\n"
                       "for fd in range(3, 64):\n"
                       "    try:\n"
                       "        os.write(fd, struct.pack('=IIQ', 0x494e5054, 0, 3) + b'\\x07ab')\n"
                       "    except OSError:\n"
                       "        pass\n"
                       "import time\ntime.sleep(5)\n";
    psb_outcome *out = NULL;
    ck_assert_int_eq(psb_exec(sb, code, strlen(code), o, &out, &err), PSB_OK);
    ck_assert(!psb_outcome_ok(out));
    ck_assert_str_eq(a.prompts, "");
    psb_outcome_free(out);
    /* A huge prompt is cut within the cap, never refused. */
    code = "try:\n    input('p' * 200000)\nexcept EOFError:\n    result = 1";
    ck_assert_int_eq(psb_exec(sb, code, strlen(code), o, &out, &err), PSB_OK);
    ck_assert_msg(psb_outcome_ok(out), "%s", psb_outcome_json(out));
    ck_assert_uint_le(strlen(a.prompts), 65536 + 2);
    psb_outcome_free(out);
    psb_exec_options_free(o);
}
END_TEST

static Suite *ask_suite(void) {
    Suite *s = suite_create("ask");
    TCase *tc = psb_tcase_create("questions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_complete_from_namespace);
    tcase_add_test(tc, test_inspect_and_is_complete);
    tcase_add_test(tc, test_expressions);
    suite_add_tcase(s, tc);
    tc = psb_tcase_create("input");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_input_in_session_and_exec);
    tcase_add_test(tc, test_hostile_prompts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return psb_test_run(ask_suite());
}
