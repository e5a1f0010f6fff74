/*
 * test_display.c - notebook semantics through the public API: the value of
 * the code's last expression and display() come back as MIME bundles
 * (text/plain, text/html, image/png, application/json), in order, within
 * their caps; the JSON outcome carries them.
 */
#include <check.h>
#include <jansson.h>
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
    ck_assert_int_eq(psb_config_set_policy(cfg, "data-science", &err), PSB_OK);
    psb_status st = psb_sandbox_new(cfg, &sb, &err);
    psb_config_free(cfg);
    ck_assert_msg(st == PSB_OK, "psb_sandbox_new: %s", err.message);
}

static void teardown(void) {
    psb_sandbox_free(sb);
    sb = NULL;
}

static psb_outcome *run(const char *code, const psb_exec_options *o) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *out = NULL;
    psb_status st = psb_exec(sb, code, strlen(code), o, &out, &err);
    ck_assert_msg(st == PSB_OK, "psb_exec: %s", err.message);
    return out;
}

static psb_outcome *run_ok(const char *code, const psb_exec_options *o) {
    psb_outcome *out = run(code, o);
    ck_assert_msg(psb_outcome_ok(out), "%s: %s %s %s", code,
                  psb_error_kind_name(psb_outcome_error_kind(out)),
                  psb_outcome_error_message(out) ? psb_outcome_error_message(out) : "",
                  psb_outcome_error_traceback(out) ? psb_outcome_error_traceback(out) : "");
    return out;
}

/* Bundle i's type, checked against want. */
static void expect_type(const psb_outcome *o, size_t i, const char *want) {
    const char *type = NULL;
    size_t n = 0;
    ck_assert_int_eq(psb_outcome_display(o, i, &type, &n), 0);
    ck_assert_str_eq(type, want);
    ck_assert_uint_ge(n, 1);
}

/* The value of bundle i for mime, which must be there. */
static const char *entry(const psb_outcome *o, size_t i, const char *mime) {
    size_t len = 0;
    const char *v = psb_outcome_display_find(o, i, mime, &len);
    ck_assert_msg(v != NULL, "bundle %zu has no %s", i, mime);
    ck_assert_uint_eq(strlen(v), len);
    return v;
}

START_TEST(test_last_expression) {
    psb_outcome *o = run_ok("x = 20\nx + 22\n", NULL);
    ck_assert_uint_eq(psb_outcome_display_count(o), 1);
    expect_type(o, 0, "execute_result");
    ck_assert_str_eq(entry(o, 0, "text/plain"), "42");
    ck_assert_str_eq(psb_outcome_result_json(o), "null"); /* `result` is its own thing */
    psb_outcome_free(o);

    /* Not shown: None, a trailing ';', an assignment, an expression before the end. */
    static const char *const quiet[] = {"None\n",     "1 + 1;\n",      "y = 3\n",
                                        "5\ny = 1\n", "print('hi')\n", "def f():\n    return 1\n"};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        o = run_ok(quiet[i], NULL);
        ck_assert_msg(psb_outcome_display_count(o) == 0, "%s showed a value", quiet[i]);
        psb_outcome_free(o);
    }

    /* A tuple is one value, not the arguments of a call. */
    o = run_ok("(1, 'a')\n", NULL);
    ck_assert_str_eq(entry(o, 0, "text/plain"), "(1, 'a')");
    ck_assert_str_eq(entry(o, 0, "application/json"), "[1, \"a\"]");
    psb_outcome_free(o);

    /* Both: `result` and a displayed value. */
    o = run_ok("result = {'a': 1}\n[1, 2]\n", NULL);
    ck_assert_str_eq(psb_outcome_result_json(o), "{\"a\":1}");
    ck_assert_str_eq(entry(o, 0, "text/plain"), "[1, 2]");
    ck_assert_str_eq(entry(o, 0, "application/json"), "[1, 2]");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_dataframe_html) {
    psb_outcome *o = run_ok("import pandas as pd\n"
                            "df = pd.DataFrame({'k': ['a', 'b'], 'v': [1.5, 2.5]})\n"
                            "df.describe()\n",
                            NULL);
    ck_assert_uint_eq(psb_outcome_display_count(o), 1);
    ck_assert_ptr_nonnull(strstr(entry(o, 0, "text/plain"), "mean"));
    ck_assert_ptr_nonnull(strstr(entry(o, 0, "text/html"), "<table"));
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_display_builtin) {
    psb_outcome *o = run_ok("display({'n': 1, 'xs': [1, 2]})\n"
                            "display('text', 3)\n"
                            "class Rich:\n"
                            "    def __repr__(self): return 'Rich()'\n"
                            "    def _repr_html_(self): return '<b>rich</b>'\n"
                            "    def _repr_markdown_(self): raise ValueError('no')\n"
                            "Rich()\n",
                            NULL);
    ck_assert_uint_eq(psb_outcome_display_count(o), 4);
    for (size_t i = 0; i < 3; i++)
        expect_type(o, i, "display_data");
    expect_type(o, 3, "execute_result");
    json_t *j = json_loads(entry(o, 0, "application/json"), 0, NULL);
    json_t *want = json_pack("{s:i,s:[i,i]}", "n", 1, "xs", 1, 2);
    ck_assert(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    ck_assert_str_eq(entry(o, 1, "text/plain"), "'text'");
    ck_assert_ptr_null(psb_outcome_display_find(o, 1, "application/json", NULL));
    ck_assert_str_eq(entry(o, 2, "text/plain"), "3");
    ck_assert_str_eq(entry(o, 3, "text/plain"), "Rich()");
    ck_assert_str_eq(entry(o, 3, "text/html"), "<b>rich</b>");
    /* A _repr_*_ that raises leaves its entry out, nothing else. */
    ck_assert_ptr_null(psb_outcome_display_find(o, 3, "text/markdown", NULL));
    ck_assert_int_eq(psb_outcome_displays_truncated(o), 0);
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_figure_png) {
    psb_outcome *o = run_ok("import matplotlib.pyplot as plt\n"
                            "fig, ax = plt.subplots()\n"
                            "ax.plot([1, 2, 3])\n"
                            "fig\n",
                            NULL);
    ck_assert_uint_eq(psb_outcome_display_count(o), 1);
    const char *png = entry(o, 0, "image/png");
    ck_assert_msg(strncmp(png, "iVBORw0KGgo", 11) == 0, "not base64 of a PNG: %.20s", png);
    ck_assert_ptr_nonnull(strstr(entry(o, 0, "text/plain"), "Figure"));
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_errors_keep_order) {
    /* An exception in the last expression is the code's error; earlier displays stay. */
    psb_outcome *o = run("display(1)\n1 / 0\n", NULL);
    ck_assert_int_eq(psb_outcome_error_kind(o), PSB_KIND_EXCEPTION);
    ck_assert_str_eq(psb_outcome_error_type(o), "ZeroDivisionError");
    ck_assert_ptr_nonnull(strstr(psb_outcome_error_traceback(o), "line 2"));
    ck_assert_uint_eq(psb_outcome_display_count(o), 1);
    psb_outcome_free(o);

    o = run("1 +\n", NULL);
    ck_assert_int_eq(psb_outcome_error_kind(o), PSB_KIND_SYNTAX_ERROR);
    psb_outcome_free(o);

    /* A broken __repr__ still shows something. */
    o = run_ok("class B:\n    def __repr__(self): raise RuntimeError\nB()\n", NULL);
    ck_assert_str_eq(entry(o, 0, "text/plain"), "<unprintable B>");
    psb_outcome_free(o);
}
END_TEST

START_TEST(test_caps) {
    psb_error err = {.code = PSB_OK};
    psb_exec_options *opt = psb_exec_options_new(&err);
    ck_assert_int_eq(psb_exec_options_set_display_limit_bytes(opt, 200, &err), PSB_OK);
    /* One bundle over its cap: the rich entry goes first, then text/plain is cut. */
    psb_outcome *o = run_ok("class W:\n"
                            "    def __repr__(self): return 'w'\n"
                            "    def _repr_html_(self): return 'h' * 1000\n"
                            "display(W())\n"
                            "'x' * 5000\n",
                            opt);
    ck_assert_uint_eq(psb_outcome_display_count(o), 2);
    ck_assert_str_eq(entry(o, 0, "text/plain"), "w");
    ck_assert_ptr_null(psb_outcome_display_find(o, 0, "text/html", NULL));
    const char *cut = entry(o, 1, "text/plain");
    ck_assert_uint_le(strlen(cut), 200);
    ck_assert_ptr_nonnull(strstr(cut, "..."));
    ck_assert_int_eq(psb_outcome_displays_truncated(o), 1);
    psb_outcome_free(o);

    /* The total cap drops later bundles. */
    ck_assert_int_eq(psb_exec_options_set_display_limit_bytes(opt, 4096, &err), PSB_OK);
    ck_assert_int_eq(psb_exec_options_set_displays_limit_bytes(opt, 1000, &err), PSB_OK);
    o = run_ok("for i in range(100):\n    display('y' * 90)\n", opt);
    ck_assert_uint_lt(psb_outcome_display_count(o), 10);
    ck_assert_uint_gt(psb_outcome_display_count(o), 0);
    ck_assert_int_eq(psb_outcome_displays_truncated(o), 1);
    psb_outcome_free(o);

    /* And the count: at most 256 bundles. */
    ck_assert_int_eq(psb_exec_options_set_displays_limit_bytes(opt, 1 << 20, &err), PSB_OK);
    o = run_ok("for i in range(300):\n    display(i)\n", opt);
    ck_assert_uint_eq(psb_outcome_display_count(o), 256);
    ck_assert_int_eq(psb_outcome_displays_truncated(o), 1);
    psb_outcome_free(o);

    /* A cap of 0: nothing is shown, and the outcome says so. */
    ck_assert_int_eq(psb_exec_options_set_displays_limit_bytes(opt, 0, &err), PSB_OK);
    o = run_ok("1\n", opt);
    ck_assert_uint_eq(psb_outcome_display_count(o), 0);
    ck_assert_int_eq(psb_outcome_displays_truncated(o), 1);
    psb_outcome_free(o);

    ck_assert_int_eq(psb_exec_options_set_display_limit_bytes(opt, (256u << 20) + 1, &err),
                     PSB_EINVAL);
    ck_assert_int_eq(psb_exec_options_set_displays_limit_bytes(NULL, 1, &err), PSB_EINVAL);
    psb_exec_options_free(opt);
}
END_TEST

START_TEST(test_outcome_json) {
    psb_outcome *o = run_ok("display([1, {'a': None}])\n'v'\n", NULL);
    json_t *doc = json_loads(psb_outcome_json(o), 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_t *d = json_object_get(doc, "displays");
    ck_assert_uint_eq(json_array_size(d), 2);
    json_t *first = json_array_get(d, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "type")), "display_data");
    /* application/json is JSON in the outcome, not a string. */
    json_t *value = json_object_get(json_object_get(first, "data"), "application/json");
    json_t *want = json_pack("[i,{s:n}]", 1, "a");
    ck_assert(json_equal(value, want));
    json_t *second = json_array_get(d, 1);
    ck_assert_str_eq(json_string_value(json_object_get(second, "type")), "execute_result");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(second, "data"), "text/plain")), "'v'");
    ck_assert(json_is_false(json_object_get(doc, "displays_truncated")));
    json_decref(want);
    json_decref(doc);

    /* Out of range and NULL: refused, nothing written. */
    const char *type = "unchanged";
    ck_assert_int_eq(psb_outcome_display(o, 2, &type, NULL), -1);
    ck_assert_str_eq(type, "unchanged");
    ck_assert_int_eq(psb_outcome_display_entry(o, 0, 16, NULL, NULL, NULL), -1);
    ck_assert_ptr_null(psb_outcome_display_find(o, 0, NULL, NULL));
    ck_assert_ptr_null(psb_outcome_display_find(NULL, 0, "text/plain", NULL));
    ck_assert_uint_eq(psb_outcome_display_count(NULL), 0);
    psb_outcome_free(o);
}
END_TEST

static Suite *display_suite(void) {
    Suite *s = suite_create("display");
    TCase *tc = psb_tcase_create("values");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_last_expression);
    tcase_add_test(tc, test_dataframe_html);
    tcase_add_test(tc, test_display_builtin);
    tcase_add_test(tc, test_figure_png);
    tcase_add_test(tc, test_errors_keep_order);
    tcase_add_test(tc, test_outcome_json);
    suite_add_tcase(s, tc);
    tc = psb_tcase_create("caps");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_caps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return psb_test_run(display_suite());
}
