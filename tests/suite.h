/*
 * tests/suite.h - the one way the Check suites run: fork mode (a test that
 * starts Python or loads seccomp runs in its own process), exit status from
 * the failure count.
 */
#ifndef PSB_TESTS_SUITE_H
#define PSB_TESTS_SUITE_H

#include <check.h>
#include <stdlib.h>

/* Runs every test of s and frees it; EXIT_SUCCESS when none failed. */
static inline int psb_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose lists each test */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* PSB_TESTS_SUITE_H */
