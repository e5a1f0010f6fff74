/*
 * test_security.c - the attacks that are more than one file with an
 * expectation. The attack files themselves (attacks/FAMILY/NAME.py, each
 * layer alone and every family against the full stack) run through
 * test_attacks; what stays here needs two executions and the host's view
 * in between: state one execution plants must be gone, from the host's
 * file system and from the next execution.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "include/pysandbox.h"
#include "tests/security/attack.h"
#include "tests/security/world.h"
#include "tests/suite.h"

#ifndef PSB_ATTACKS_DIR
#define PSB_ATTACKS_DIR "tests/security/attacks"
#endif

static pid_t runner_pid; /* the Check runner: names our temporary paths */
static world W;
static psb_sandbox *sb;

static void setup(void) {
    char hex[17], env_secret[64];
    sec_random_hex(hex, 16);
    snprintf(env_secret, sizeof env_secret, "xyz-%s", hex);
    /* A host secret in the environment: the helper and children must not see it. */
    ck_assert(setenv("PSB_HOST_SECRET", env_secret, 1) == 0);
    world_setup(&W, runner_pid, env_secret);
    sec_count_signals(); /* after the sentinel's fork: it keeps SIG_DFL */
    sb = NULL;
}

static void teardown(void) {
    psb_sandbox_free(sb);
    sb = NULL;
    world_cleanup(&W);
}

static void sweep(void) {
    world_sweep(runner_pid);
}

/* Runs code (after lib/tryit.py) with the world's inputs and extra; no secret comes back. */
static psb_outcome *run(const char *name, const char *body, json_t *extra, json_t **ret_result) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *o = NULL;
    char *tryit = sec_read_file(PSB_ATTACKS_DIR "/lib/tryit.py", NULL), *code = NULL, d[2048];
    ck_assert_msg(tryit != NULL, "cannot read %s/lib/tryit.py", PSB_ATTACKS_DIR);
    ck_assert(asprintf(&code, "%s%s", tryit, body) > 0);
    free(tryit);
    json_t *in = world_inputs(&W, getpid());
    if (extra) {
        json_object_update(in, extra);
        json_decref(extra);
    }
    char *in_text = json_dumps(in, JSON_COMPACT);
    json_decref(in);
    psb_exec_options *opt = psb_exec_options_new(&err);
    ck_assert_ptr_nonnull(opt);
    ck_assert(psb_exec_options_set_inputs_json(opt, in_text, strlen(in_text), &err) == PSB_OK);
    ck_assert(psb_exec_options_set_timeout_ms(opt, 60000, &err) == PSB_OK);
    psb_status st = psb_exec(sb, code, strlen(code), opt, &o, &err);
    free(in_text);
    free(code);
    psb_exec_options_free(opt);
    ck_assert_msg(st == PSB_OK, "%s: psb_exec: %s: %s", name, psb_status_str(st), err.message);
    printf("[persistence] %-16s -> %s\n", name, sec_describe(o, d, sizeof d));
    size_t olen = 0, elen = 0;
    const char *all = psb_outcome_json(o), *what;
    const char *so = psb_outcome_stdout(o, &olen, NULL), *se = psb_outcome_stderr(o, &elen, NULL);
    what = world_leak(&W, all, all ? strlen(all) : 0);
    ck_assert_msg(!what, "%s: %s leaked", name, what);
    what = world_leak(&W, so, olen);
    ck_assert_msg(!what, "%s: %s leaked to stdout", name, what);
    what = world_leak(&W, se, elen);
    ck_assert_msg(!what, "%s: %s leaked to stderr", name, what);
    ck_assert_msg(psb_outcome_ok(o), "%s: %s", name, sec_describe(o, d, sizeof d));
    *ret_result = json_loads(psb_outcome_result_json(o), 0, NULL);
    ck_assert_msg(json_is_object(*ret_result), "%s: %s", name, sec_describe(o, d, sizeof d));
    return o;
}

/* A tryit() record: whether the action succeeded. */
static bool tried_ok(json_t *r, const char *key) {
    json_t *ok = json_object_get(json_object_get(r, key), "ok");
    ck_assert_msg(json_is_boolean(ok), "the result has no %s.ok", key);
    return json_is_true(ok);
}

START_TEST(test_persistence_across_executions) {
    json_t *r = NULL;
    char cwd[512], d[2048];
    sb = sec_sandbox(SEC_LAYERS_DEFAULT, PSB_MODE_WARM, 0);
    psb_outcome *o =
        run("plant state",
            "import builtins, json, sys\n"
            "r = {'cwd': os.getcwd()}\n"
            "r['cwd_file'] = tryit(lambda: open('persist.txt', 'w').write('x'))\n"
            "r['tmp'] = tryit(lambda: open(inputs['canary'] + '-persist', 'w'))\n"
            "r['shm'] = tryit(lambda: open('/dev/shm/' + inputs['base'] + '-p', 'w'))\n"
            "builtins.psb_persist = 1\n"
            "json.psb_persist = 1\n"
            "sys.psb_persist = 1\n"
            "os.environ['PSB_PERSIST'] = '1'\n"
            "result = r\n",
            NULL, &r);
    ck_assert_msg(tried_ok(r, "cwd_file"), "control: %s", sec_describe(o, d, sizeof d));
    ck_assert_msg(!tried_ok(r, "tmp"), "tmp SUCCEEDED: %s", sec_describe(o, d, sizeof d));
    ck_assert_msg(!tried_ok(r, "shm"), "shm SUCCEEDED: %s", sec_describe(o, d, sizeof d));
    const char *dir = json_string_value(json_object_get(r, "cwd"));
    ck_assert_ptr_nonnull(dir);
    snprintf(cwd, sizeof cwd, "%s", dir);
    json_decref(r);
    psb_outcome_free(o);
    for (int i = 0; i < 30 && access(cwd, F_OK) == 0; i++)
        sec_sleep_ms(100); /* the helper replies first, then cleans up */
    ck_assert_msg(access(cwd, F_OK) != 0, "the scratch dir %s survived its execution", cwd);

    o = run("look for state",
            "import builtins, json, sys\n"
            "result = {'cwd_file': os.path.exists('persist.txt'),\n"
            "          'old_cwd': os.path.exists(inputs['old_cwd']),\n"
            "          'same_cwd': os.getcwd() == inputs['old_cwd'],\n"
            "          'builtins': hasattr(builtins, 'psb_persist'),\n"
            "          'json': hasattr(json, 'psb_persist'),\n"
            "          'sys': hasattr(sys, 'psb_persist'),\n"
            "          'env': 'PSB_PERSIST' in os.environ}\n",
            json_pack("{s:s}", "old_cwd", cwd), &r);
    const char *keys[] = {"cwd_file", "old_cwd", "same_cwd", "builtins", "json", "sys", "env"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_is_false(json_object_get(r, keys[i])), "%s persisted: %s", keys[i],
                      sec_describe(o, d, sizeof d));
    json_decref(r);
    psb_outcome_free(o);
    const char *why = world_problem(&W, getpid(), (long)sec_signals, 0, NULL, 0);
    ck_assert_msg(!why[0], "%s", why);
}
END_TEST

static Suite *security_suite(void) {
    Suite *s = suite_create("security");
    TCase *tc = psb_tcase_create("persistence");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_unchecked_fixture(tc, NULL, sweep);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_persistence_across_executions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    runner_pid = getpid();
    setvbuf(stdout, NULL, _IOLBF, 0); /* a failing test exits: keep what it printed */
    return psb_test_run(security_suite());
}
