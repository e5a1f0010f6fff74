/*
 * tests/test_hooks.c - the Python-free part of hooks/: path resolution and
 * normalization, prefix sets, frame classification for the import filter.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/hooks.h"
#include "tests/suite.h"

static void norm(const char *in, const char *want) {
    char buf[256];
    strcpy(buf, in);
    psb__path_normalize(buf);
    ck_assert_msg(strcmp(buf, want) == 0, "normalize(%s) = %s, want %s", in, buf, want);
}

START_TEST(normalize) {
    norm("/a/b/../c", "/a/c");
    norm("//a///b/./c/", "/a/b/c");
    norm("/../../etc/shadow", "/etc/shadow");
    norm("/", "/");
    norm("/a/..", "/");
}
END_TEST

START_TEST(resolve_follows_symlinks) {
    char dir[] = "/tmp/psb-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char link[300], out[4096];
    snprintf(link, sizeof link, "%s/link", dir);
    ck_assert_int_eq(symlink("/etc", link), 0);
    snprintf(link, sizeof link, "%s/link/passwd", dir);
    ck_assert_int_eq(psb__path_resolve(link, out, sizeof out), 0);
    ck_assert_str_eq(out, "/etc/passwd");
    /* A file that does not exist yet resolves through its parent. */
    snprintf(link, sizeof link, "%s/link/new-file", dir);
    ck_assert_int_eq(psb__path_resolve(link, out, sizeof out), 0);
    ck_assert_str_eq(out, "/etc/new-file");
    /* Relative paths resolve against the cwd. */
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(psb__path_resolve("../x", out, sizeof out), 0);
    ck_assert_str_eq(out, "/tmp/x");
    snprintf(link, sizeof link, "%s/link", dir);
    unlink(link);
    rmdir(dir);
}
END_TEST

START_TEST(pathset) {
    psb__pathset set = {0};
    ck_assert_int_eq(psb__pathset_add(&set, "/usr/share/"), 0);
    ck_assert_int_eq(psb__pathset_add(&set, "/dev/null"), 0);
    ck_assert_int_eq(psb__pathset_add(&set, "relative"), -1);
    ck_assert(psb__pathset_contains(&set, "/usr/share"));
    ck_assert(psb__pathset_contains(&set, "/usr/share/zoneinfo/UTC"));
    ck_assert(!psb__pathset_contains(&set, "/usr/shared"));
    ck_assert(!psb__pathset_contains(&set, "/usr"));
    ck_assert(psb__pathset_contains(&set, "/dev/null"));
    ck_assert(!psb__pathset_contains(&set, "/dev/nullx"));
    psb__pathset_clear(&set);
    ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(frame_classes) {
    psb__pathset trusted = {0}, transparent = {0};
    ck_assert_int_eq(psb__pathset_add(&trusted, "/usr/lib/python3.11"), 0);
    ck_assert_int_eq(psb__pathset_add(&trusted, "/usr/lib/python3/dist-packages"), 0);
    ck_assert_int_eq(psb__pathset_add(&transparent, "/usr/lib/python3.11/importlib"), 0);
    ck_assert_int_eq(psb__frame_classify("<sandbox>", &trusted, &transparent), PSB__FRAME_USER);
    ck_assert_int_eq(psb__frame_classify("<string>", &trusted, &transparent), PSB__FRAME_USER);
    ck_assert_int_eq(psb__frame_classify("<frozen importlib._bootstrap>", &trusted, &transparent),
                     PSB__FRAME_TRANSPARENT);
    ck_assert_int_eq(psb__frame_classify("<pysandbox/support.py>", &trusted, &transparent),
                     PSB__FRAME_TRANSPARENT);
    ck_assert_int_eq(psb__frame_classify("<frozen os>", &trusted, &transparent),
                     PSB__FRAME_TRUSTED);
    ck_assert_int_eq(
        psb__frame_classify("/usr/lib/python3.11/importlib/__init__.py", &trusted, &transparent),
        PSB__FRAME_TRANSPARENT);
    ck_assert_int_eq(psb__frame_classify("/usr/lib/python3/dist-packages/numpy/__init__.py",
                                         &trusted, &transparent),
                     PSB__FRAME_TRUSTED);
    ck_assert_int_eq(psb__frame_classify("/tmp/pysandbox-x/run-y/mine.py", &trusted, &transparent),
                     PSB__FRAME_USER);
    /* A dotted path that only looks like it is inside a trusted root. */
    ck_assert_int_eq(
        psb__frame_classify("/usr/lib/python3.11/../../../tmp/evil.py", &trusted, &transparent),
        PSB__FRAME_USER);
    psb__pathset_clear(&trusted);
    psb__pathset_clear(&transparent);
}
END_TEST

int main(void) {
    Suite *s = suite_create("hooks");
    TCase *tc = psb_tcase_create("paths");
    tcase_add_test(tc, normalize);
    tcase_add_test(tc, resolve_follows_symlinks);
    tcase_add_test(tc, pathset);
    tcase_add_test(tc, frame_classes);
    suite_add_tcase(s, tc);
    return psb_test_run(s);
}
