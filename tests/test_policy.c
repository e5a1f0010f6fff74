/*
 * tests/test_policy.c - the policy module: presets, policy documents (key
 * paths in errors), limit ranges, import decisions, rlimits.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "host/host.h"
#include "policy/confine/confine.h"
#include "tests/suite.h"

static psb_status parse(const char *json, psb__policy *pol, psb_error *err) {
    memset(err, 0, sizeof *err);
    return psb__policy_parse(json, "test", pol, err);
}

START_TEST(helper_pid_of_names) {
    ck_assert_int_eq(psb__helper_pid_of("pysandbox-123", '\0'), 123);
    ck_assert_int_eq(psb__helper_pid_of("pysandbox-123-AbC123", '-'), 123);
    ck_assert_int_eq(psb__helper_pid_of("pysandbox-123-AbC123", '\0'), -1);
    ck_assert_int_eq(psb__helper_pid_of("pysandbox-123", '-'), -1);
    ck_assert_int_eq(psb__helper_pid_of("pysandbox--1", '\0'), -1);
    ck_assert_int_eq(psb__helper_pid_of("pysandbox-", '\0'), -1);
    ck_assert_int_eq(psb__helper_pid_of("pysandbox-0", '\0'), -1);
    ck_assert_int_eq(psb__helper_pid_of("other-123", '\0'), -1);
}
END_TEST

START_TEST(presets_parse) {
    const char *names[] = {"default", "data-science", "strict"};
    for (size_t i = 0; i < 3; i++) {
        psb__policy pol;
        psb_error err = {0};
        ck_assert_int_eq(psb__policy_load(names[i], &pol, &err), PSB_OK);
        ck_assert_ptr_nonnull(json_object_get(pol.doc, "imports"));
        ck_assert(json_is_false(json_object_get(pol.doc, "network")));
        psb__policy_clear(&pol);
    }
}
END_TEST

START_TEST(unknown_preset) {
    psb__policy pol;
    psb_error err = {0};
    ck_assert_int_eq(psb__policy_load("nope", &pol, &err), PSB_EPOLICY);
    ck_assert_ptr_nonnull(strstr(err.message, "unknown policy preset 'nope'"));
}
END_TEST

START_TEST(errors_name_the_key_path) {
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"imports\": {\"deny\": [\"os\", 3]}}", "policy.imports.deny[1]"},
        {"{\"imports\": {\"deny\": [\"no such\"]}}", "policy.imports.deny[0]"},
        {"{\"imports\": {\"default\": \"maybe\"}}", "policy.imports.default"},
        {"{\"imports\": {\"colour\": 1}}", "policy.imports.colour: unknown key"},
        {"{\"limits\": {\"timeout_ms\": 0}}", "policy.limits.timeout_ms"},
        {"{\"limits\": {\"memory_mib\": -5}}", "policy.limits.memory_mib"},
        {"{\"limits\": {\"fuel\": 1}}", "policy.limits.fuel: unknown key"},
        {"{\"network\": \"no\"}", "policy.network"},
        {"{\"env\": {\"1X\": \"a\"}}", "policy.env.1X"},
        {"{\"env\": {\"X\": 1}}", "policy.env.X"},
        {"{\"readable_paths\": [\"relative/path\"]}", "policy.readable_paths[0]"},
        {"{\"readable_paths\": [\"/a/../etc\"]}", "policy.readable_paths[0]"},
        {"{\"denied_events\": [\"os system\"]}", "policy.denied_events[0]"},
        {"{\"surprise\": true}", "policy.surprise: unknown key"},
        {"{\"layers\": [\"ok\", \"../up\"]}", "policy.layers[1]"},
        {"{\"layers\": \"analytics\"}", "policy.layers: expected an array"},
        {"[1, 2]", "expected a JSON object"},
        {"{\"imports\": ", "invalid JSON"},
        {"{\"network\": false, \"network\": true}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        psb__policy pol;
        psb_error err;
        ck_assert_int_eq(parse(cases[i].json, &pol, &err), PSB_EPOLICY);
        ck_assert_msg(strstr(err.message, cases[i].want), "case %zu: '%s' lacks '%s'", i,
                      err.message, cases[i].want);
    }
}
END_TEST

START_TEST(valid_document_is_normalized) {
    psb__policy pol;
    psb_error err;
    ck_assert_int_eq(parse("{\"imports\": {\"default\": \"deny\", \"allow\": [\"math\"]},"
                           " \"limits\": {\"timeout_ms\": 5000}, \"env\": {\"LANG\": \"C\"},"
                           " \"description\": \"x\"}",
                           &pol, &err),
                     PSB_OK);
    ck_assert_int_eq(pol.limits.v[PSB__LIMIT_TIMEOUT_MS], 5000);
    ck_assert_int_eq(pol.limits.v[PSB__LIMIT_MEMORY_MIB], 512);
    json_t *imports = json_object_get(pol.doc, "imports");
    ck_assert(json_is_false(json_object_get(imports, "default_allow")));
    ck_assert_int_eq(json_array_size(json_object_get(imports, "rules")), 1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(pol.doc, "limits"), "cpu_s")), 30);
    psb__policy_clear(&pol);
}
END_TEST

START_TEST(import_decisions) {
    json_t *rules = json_loads("[{\"module\":\"os\",\"allow\":false},"
                               "{\"module\":\"os.path\",\"allow\":true},"
                               "{\"module\":\"numpy\",\"allow\":true},"
                               "{\"module\":\"numpy.ctypeslib\",\"allow\":false},"
                               "{\"module\":\"x\",\"allow\":true},"
                               "{\"module\":\"x\",\"allow\":false}]",
                               0, NULL);
    ck_assert_ptr_nonnull(rules);
    ck_assert(!psb__import_allowed(rules, true, "os"));
    ck_assert(psb__import_allowed(rules, true, "os.path")); /* more specific wins */
    ck_assert(!psb__import_allowed(rules, true, "os.x"));
    ck_assert(psb__import_allowed(rules, true, "osmosis")); /* not a submodule */
    ck_assert(psb__import_allowed(rules, false, "numpy.linalg"));
    ck_assert(!psb__import_allowed(rules, true, "numpy.ctypeslib.x"));
    ck_assert(!psb__import_allowed(rules, false, "json")); /* default deny */
    ck_assert(!psb__import_allowed(rules, true, "x"));     /* deny wins a tie */
    json_decref(rules);
}
END_TEST

START_TEST(limit_ranges) {
    psb_error err = {0};
    ck_assert_int_eq(psb__limit_check(PSB__LIMIT_TIMEOUT_MS, 0, "timeout", &err), PSB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "between 1 and"));
    ck_assert_int_eq(psb__limit_check(PSB__LIMIT_MEMORY_MIB, 31, "m", NULL), PSB_EINVAL);
    ck_assert_int_eq(psb__limit_check(PSB__LIMIT_MEMORY_MIB, 32, "m", NULL), PSB_OK);
    ck_assert_int_eq(psb__limit_check(PSB__LIMIT_STDOUT_BYTES, 0, "o", NULL), PSB_OK);
    ck_assert_int_eq(psb__limit_find("cpu_s"), PSB__LIMIT_CPU_S);
    ck_assert_int_eq(psb__limit_find("nope"), -1);
}
END_TEST

START_TEST(names) {
    ck_assert(psb__module_name_valid("a.b_c.d2"));
    ck_assert(!psb__module_name_valid("a..b"));
    ck_assert(!psb__module_name_valid(".a"));
    ck_assert(!psb__module_name_valid("a."));
    ck_assert(!psb__module_name_valid("2a"));
    ck_assert(!psb__module_name_valid(""));
    ck_assert(psb__env_name_valid("_A1"));
    ck_assert(!psb__env_name_valid("1A"));
    ck_assert(!psb__env_name_valid("A=B"));
    ck_assert(!psb__env_name_valid(""));
    ck_assert(psb__modlayer_name_valid("analytics-2_b"));
    ck_assert(psb__modlayer_name_valid("9"));
    ck_assert(!psb__modlayer_name_valid(""));
    ck_assert(!psb__modlayer_name_valid("-x"));
    ck_assert(!psb__modlayer_name_valid(".x"));
    ck_assert(!psb__modlayer_name_valid("a.b")); /* '.' would blur a name and its generations */
    ck_assert(!psb__modlayer_name_valid("a/b"));
    ck_assert(!psb__modlayer_name_valid("a@b"));
    char longest[PSB__MAX_MODLAYER_NAME + 2];
    memset(longest, 'x', sizeof longest);
    longest[PSB__MAX_MODLAYER_NAME] = '\0';
    ck_assert(psb__modlayer_name_valid(longest));
    longest[PSB__MAX_MODLAYER_NAME] = 'x';
    longest[PSB__MAX_MODLAYER_NAME + 1] = '\0';
    ck_assert(!psb__modlayer_name_valid(longest));
}
END_TEST

/* Runs in its own forked process (Check's fork mode), so the limits stay there. */
START_TEST(rlimits_are_applied) {
#ifdef PSB_SANITIZE
    /* ASan reserves terabytes of shadow address space: RLIMIT_AS cannot apply. */
    printf("rlimits_are_applied: skipped under AddressSanitizer (RLIMIT_AS)\n");
    return;
#endif
    psb__limits limits;
    psb__limits_default(&limits);
    limits.v[PSB__LIMIT_MEMORY_MIB] = 300;
    limits.v[PSB__LIMIT_CPU_S] = 7;
    limits.v[PSB__LIMIT_OPEN_FILES] = 50;
    const char *failed = NULL;
    ck_assert_int_eq(psb__rlimits_apply(&limits, 1u << 20, 0, &failed), 0);
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    ck_assert_uint_eq(rl.rlim_cur, 301ull << 20);
    getrlimit(RLIMIT_CPU, &rl);
    ck_assert_uint_eq(rl.rlim_cur, 7);
    ck_assert_uint_eq(rl.rlim_max, 8);
    getrlimit(RLIMIT_NOFILE, &rl);
    ck_assert_uint_eq(rl.rlim_cur, 50);
    getrlimit(RLIMIT_CORE, &rl);
    ck_assert_uint_eq(rl.rlim_max, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("policy");
    TCase *tc = psb_tcase_create("policy");
    tcase_add_test(tc, helper_pid_of_names);
    tcase_add_test(tc, presets_parse);
    tcase_add_test(tc, unknown_preset);
    tcase_add_test(tc, errors_name_the_key_path);
    tcase_add_test(tc, valid_document_is_normalized);
    tcase_add_test(tc, import_decisions);
    tcase_add_test(tc, limit_ranges);
    tcase_add_test(tc, names);
    tcase_add_test(tc, rlimits_are_applied);
    suite_add_tcase(s, tc);
    return psb_test_run(s);
}
