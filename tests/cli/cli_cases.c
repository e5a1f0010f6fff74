/*
 * tests/cli/cli_cases.c - runs the data-driven cases of the pysandbox CLI:
 * every case directory of one group becomes a Check test case named after
 * it, runs the built CLI (PSB_CLI_PATH) in a scratch copy of its files/ and
 * judges its expect file (the format is in tests/cli/README.md).
 *
 *   cli_cases run GROUP_DIR      every check of every case must hold
 *   cli_cases fail GROUP_DIR     every check of every case must fail
 *   cli_cases reject GROUP_DIR   each NAME/case must be refused by the
 *                                loader, with NAME/why in its message
 *
 * The last two prove on purpose-made cases that the checks can fail and
 * that a malformed case fails loudly instead of checking less.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/cli/case.h"
#include "tests/suite.h"

#define TEST_TIMEOUT_S 300 /* Check's per-case timeout */

enum mode { MODE_RUN, MODE_FAIL, MODE_REJECT };

static enum mode mode;
static const char *group_dir;
static char **case_names; /* the group's case directories, sorted */

/* Runs c (from dir) in a scratch directory holding its files/. */
static void run_case(const char *dir, const struct cli_case *c, struct psb_cli_run *r) {
    char scratch[] = "/tmp/psb-cli-case-XXXXXX", why[512];
    struct psb_cli_call call = {0};
    int copied;

    ck_assert_ptr_nonnull(mkdtemp(scratch));
    copied = cli_case_copy_files(dir, c, scratch, why, sizeof(why));
    if (copied == 0) {
        call.args = (const char *const *)c->args;
        call.in = c->in;
        call.in_len = c->in_len;
        call.env = (const char *const *)c->env;
        call.cwd = scratch;
        psb_cli_exec(r, &call);
    }
    psb_test_remove_tree(scratch);
    ck_assert_msg(copied == 0, "%s: %s", dir, why);
}

/* Judges every check of c; prints each that does not match the mode. */
static size_t judge(const char *name, const struct cli_case *c, const struct psb_cli_run *r,
                    char *first, size_t first_size) {
    struct cli_seen seen;
    size_t i, wrong = 0;

    cli_seen_init(&seen, r);
    for (i = 0; i < c->n_checks; i++) {
        const struct cli_check *k = &c->checks[i];
        char why[512] = "";
        int holds = cli_check_holds(k, &seen, why, sizeof(why));

        if (mode == MODE_FAIL && !holds)
            printf("%s/expect:%u: %s\n    fails: %s\n", name, k->line, k->text, why);
        if (holds == (mode == MODE_RUN))
            continue;
        if (mode == MODE_FAIL)
            snprintf(why, sizeof(why), "holds, but every check of this case must fail");
        fprintf(stderr, "%s/expect:%u: %s\n    %s\n", name, k->line, k->text, why);
        if (wrong++ == 0)
            snprintf(first, first_size, "expect:%u: %s: %s", k->line, k->text, why);
    }
    cli_seen_free(&seen);
    return wrong;
}

START_TEST(test_case) {
    const char *name = case_names[_i];
    char dir[4096], why[512], first[1024] = "";
    struct cli_case c;
    struct psb_cli_run r;
    size_t wrong;

    ck_assert_msg(cli_path(dir, sizeof(dir), "%s/%s", group_dir, name) == 0, "path too long");
    ck_assert_msg(cli_case_load(dir, &c, why, sizeof(why)) == 0, "%s: %s", name, why);
    run_case(dir, &c, &r);
    wrong = judge(name, &c, &r, first, sizeof(first));
    if (wrong > 0)
        psb_cli_dump(name, &r);
    psb_cli_run_free(&r);
    ck_assert_msg(wrong == 0, "%s: %zu of %zu checks %s; %s", name, wrong, c.n_checks,
                  mode == MODE_RUN ? "failed" : "held", first);
    cli_case_free(&c);
}
END_TEST

START_TEST(test_rejected) {
    const char *name = case_names[_i];
    char dir[4096], path[4096], why[512] = "", load_why[512] = "", *expected = NULL;
    struct cli_case c;
    size_t len = 0;
    int loaded;

    ck_assert_msg(cli_path(path, sizeof(path), "%s/%s/why", group_dir, name) == 0, "too long");
    ck_assert_msg(cli_read_file(path, 4096, &expected, &len, why, sizeof(why)) == 0, "%s", why);
    ck_assert_msg(len > 1 && expected[len - 1] == '\n' &&
                      strchr(expected, '\n') == expected + len - 1,
                  "%s: one line of the message the loader must give", path);
    expected[len - 1] = '\0';
    ck_assert_msg(cli_path(dir, sizeof(dir), "%s/%s/case", group_dir, name) == 0, "too long");
    loaded = cli_case_load(dir, &c, load_why, sizeof(load_why));
    if (loaded == 0)
        cli_case_free(&c);
    ck_assert_msg(loaded != 0, "%s: loaded, but it must be refused (%s)", name, expected);
    ck_assert_msg(strstr(load_why, expected) != NULL, "%s: refused with '%s', not for '%s'", name,
                  load_why, expected);
    printf("%s: refused: %s\n", name, load_why);
    free(expected);
}
END_TEST

/* 1 when name may name a case: [a-z0-9_-]+, so CK_RUN_CASE can select it. */
static int is_case_name(const char *name) {
    return name[0] != '\0' && name[0] != '-' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(name);
}

/* Lists the group's cases; every entry must be a case directory. */
static int discover(const char *dir) {
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort), i, kept = 0, bad = 0;

    if (n < 0) {
        perror(dir);
        return -1;
    }
    case_names = calloc((size_t)n + 1, sizeof(*case_names));
    if (case_names == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        char path[4096];
        struct stat st;

        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
            if (!is_case_name(names[i]->d_name) ||
                cli_path(path, sizeof(path), "%s/%s", dir, names[i]->d_name) != 0 ||
                lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "cli_cases: %s: not a case directory named [a-z0-9_-]+\n", path);
                bad = 1;
            } else {
                case_names[kept++] = strdup(names[i]->d_name);
            }
        }
        free(names[i]);
    }
    free(names);
    if (kept == 0 && !bad)
        fprintf(stderr, "cli_cases: %s holds no cases\n", dir);
    return bad || kept == 0 ? -1 : kept;
}

int main(int argc, char **argv) {
    static const char *const modes[] = {"run", "fail", "reject"};
    const char *group;
    Suite *s;
    int n, i, status;
    char suite_name[256];

    for (i = 0; argc == 3 && i < 3; i++)
        if (strcmp(argv[1], modes[i]) == 0)
            break;
    if (argc != 3 || i == 3) {
        fprintf(stderr, "usage: cli_cases run|fail|reject GROUP_DIR\n");
        return 2;
    }
    mode = (enum mode)i;
    group_dir = argv[2];
    if (mode != MODE_REJECT && access(PSB_CLI_PATH, X_OK) != 0) {
        fprintf(stderr, "cli_cases: %s is not built\n", PSB_CLI_PATH);
        return EXIT_FAILURE;
    }
    n = discover(group_dir);
    if (n < 0)
        return EXIT_FAILURE;
    group = strrchr(group_dir, '/') != NULL ? strrchr(group_dir, '/') + 1 : group_dir;
    snprintf(suite_name, sizeof(suite_name), "cli_%s", group);
    s = suite_create(suite_name);
    for (i = 0; i < n; i++) {
        TCase *tc = tcase_create(case_names[i]);

        tcase_set_timeout(tc, TEST_TIMEOUT_S);
        tcase_add_loop_test(tc, mode == MODE_REJECT ? test_rejected : test_case, i, i + 1);
        suite_add_tcase(s, tc);
    }
    status = psb_test_run(s);
    for (i = 0; i < n; i++)
        free(case_names[i]);
    free(case_names);
    return status;
}
