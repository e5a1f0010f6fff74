/*
 * tests/suite.h - the one way the Check suites run: fork mode (a test that
 * starts Python or loads seccomp runs in its own process), exit status from
 * the failure count.
 * Below: the one way they run the pysandbox CLI and judge its outcome.
 */
#ifndef PSB_TESTS_SUITE_H
#define PSB_TESTS_SUITE_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The names of the suite's test cases, as psb_tcase_create() made them. */
static const char *psb__tcase_names[64];
static size_t psb__n_tcases;

/*
 * tcase_create() that remembers the name, so ctest can list the cases
 * (PSB_LIST_CASES) and run each as its own entry (CK_RUN_CASE): a failure
 * then names its case.
 */
static inline TCase *psb_tcase_create(const char *name) {
    if (psb__n_tcases < sizeof psb__tcase_names / sizeof psb__tcase_names[0])
        psb__tcase_names[psb__n_tcases++] = name;
    else
        abort(); /* a case ctest would not list */
    return tcase_create(name);
}

/*
 * Runs every test of s (or, with CK_RUN_CASE set, those of one case) and
 * frees it; EXIT_SUCCESS when none failed. With PSB_LIST_CASES set it only
 * prints the case names, one per line, for tests/discover.cmake.
 */
static inline int psb_test_run(Suite *s) {
    if (getenv("PSB_LIST_CASES")) {
        for (size_t i = 0; i < psb__n_tcases; i++)
            printf("%s\n", psb__tcase_names[i]);
        srunner_free(srunner_create(s)); /* frees the suite */
        return EXIT_SUCCESS;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose lists each test */
    int failed = srunner_ntests_failed(sr);
    /* A case name that matched nothing ran nothing: that is a failure too. */
    if (getenv("CK_RUN_CASE") && srunner_ntests_run(sr) == 0) {
        fprintf(stderr, "no test case named '%s'\n", getenv("CK_RUN_CASE"));
        failed = 1;
    }
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- running the pysandbox CLI (tests/test_cli.c, tests/cli/) ------------ */

#ifndef PSB_CLI_PATH
#define PSB_CLI_PATH "build/pysandbox"
#endif

#define PSB_CLI_DEADLINE_S 120 /* a CLI run that takes longer is a hang */

/* What one run of the CLI did. */
struct psb_cli_run {
    int status; /* exit status, or 128 + signal */
    char *out;  /* captured stdout, NUL-terminated */
    size_t out_len;
    char *err; /* captured stderr, NUL-terminated */
    size_t err_len;
    double seconds; /* wall-clock time of the run */
};

/* How to run it. */
struct psb_cli_call {
    const char *const *args; /* after argv[0], NULL-terminated */
    const char *in;          /* bytes on its stdin; NULL or in_len 0: stdin at EOF */
    size_t in_len;
    const char *const *env; /* NAME=VALUE put over our environment (which carries
                               PYSANDBOX_HELPER from ctest), NULL-terminated; or NULL */
    const char *cwd;        /* its working directory; NULL: ours */
};

static inline void psb_cli_run_free(struct psb_cli_run *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

static inline void psb_test_append(char **buf, size_t *len, const char *data, size_t n) {
    char *grown = realloc(*buf, *len + n + 1);

    ck_assert_ptr_nonnull(grown);
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
}

static inline double psb_cli__now_s(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 when "NAME=..." entry sets the same name as one of env. */
static inline int psb_cli__overridden(const char *entry, const char *const *env) {
    size_t n = strcspn(entry, "=");

    for (; env != NULL && *env != NULL; env++)
        if (strncmp(*env, entry, n) == 0 && (*env)[n] == '=')
            return 1;
    return 0;
}

/*
 * Runs the CLI as call says and captures what it did into r (free it with
 * psb_cli_run_free). argv and the environment are built before fork(); the
 * child only redirects, changes directory and executes. A run past
 * PSB_CLI_DEADLINE_S is killed and fails the test.
 */
static inline void psb_cli_exec(struct psb_cli_run *r, const struct psb_cli_call *call) {
    extern char **environ;
    int pin[2], pout[2], perr[2];
    size_t nargs = 0, nenv = 0, written = 0, i;
    const char **argv, **envp;
    struct pollfd pfd[3];
    char chunk[65536];
    double start = psb_cli__now_s();
    pid_t pid;
    int wstatus = 0;

    memset(r, 0, sizeof(*r));
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    ck_assert(r->out != NULL && r->err != NULL);
    while (call->args[nargs] != NULL)
        nargs++;
    argv = calloc(nargs + 2, sizeof(*argv));
    ck_assert_ptr_nonnull(argv);
    argv[0] = "pysandbox";
    memcpy(argv + 1, call->args, nargs * sizeof(*argv));
    for (i = 0; environ[i] != NULL; i++)
        nenv++;
    for (i = 0; call->env != NULL && call->env[i] != NULL; i++)
        nenv++;
    envp = calloc(nenv + 1, sizeof(*envp));
    ck_assert_ptr_nonnull(envp);
    nenv = 0;
    for (i = 0; environ[i] != NULL; i++)
        if (!psb_cli__overridden(environ[i], call->env))
            envp[nenv++] = environ[i];
    for (i = 0; call->env != NULL && call->env[i] != NULL; i++)
        envp[nenv++] = call->env[i];
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        if (call->cwd != NULL && chdir(call->cwd) != 0)
            _exit(126);
        execve(PSB_CLI_PATH, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    free(argv);
    free(envp);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    if (call->in == NULL || call->in_len == 0) {
        close(pin[1]);
        pin[1] = -1;
    } else {
        fcntl(pin[1], F_SETFL, O_NONBLOCK);
    }
    pfd[0].fd = pout[0];
    pfd[1].fd = perr[0];
    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        int ready;

        pfd[0].events = pfd[1].events = POLLIN;
        pfd[2].fd = pin[1];
        pfd[2].events = POLLOUT;
        ready = poll(pfd, 3, 1000);
        if (ready < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(ready, 0);
        if (psb_cli__now_s() - start > PSB_CLI_DEADLINE_S) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            ck_abort_msg("the CLI did not finish within %d s", PSB_CLI_DEADLINE_S);
        }
        if (pin[1] >= 0 && (pfd[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(pin[1], call->in + written, call->in_len - written);

            if (n > 0)
                written += (size_t)n;
            if ((n < 0 && errno != EAGAIN) || written == call->in_len) {
                close(pin[1]); /* done, or the CLI stopped reading (EPIPE) */
                pin[1] = -1;
            }
        }
        for (i = 0; i < 2; i++) {
            ssize_t n;

            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = read(pfd[i].fd, chunk, sizeof(chunk));
            if (n > 0) {
                if (i == 0)
                    psb_test_append(&r->out, &r->out_len, chunk, (size_t)n);
                else
                    psb_test_append(&r->err, &r->err_len, chunk, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                close(pfd[i].fd);
                pfd[i].fd = -1;
            }
        }
    }
    if (pin[1] >= 0)
        close(pin[1]);
    ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    r->seconds = psb_cli__now_s() - start;
    ck_assert_msg(r->status != 127, "could not execute %s", PSB_CLI_PATH);
    ck_assert_msg(r->status != 126, "could not enter %s", call->cwd);
}

/* Prints what the CLI did, for a failed assertion's context. */
static inline void psb_cli_dump(const char *what, const struct psb_cli_run *r) {
    fprintf(stderr, "--- %s: exit %d, %.2f s\n--- stdout:\n%s\n--- stderr:\n%s\n---\n", what,
            r->status, r->seconds, r->out, r->err);
}

/*
 * What is wrong with the shape of a `run --json` outcome o, or NULL when
 * every key is there with the right type and nothing else is.
 */
static inline const char *psb_cli_shape_problem(json_t *o) {
    static const char *const stats[] = {"wall_ms", "cpu_ms", "peak_rss_kib"};
    json_t *error = json_object_get(o, "error");
    size_t i;

    if (!json_is_string(json_object_get(o, "status")))
        return "status is not a string";
    if (json_object_get(o, "result") == NULL)
        return "result is missing";
    if (!json_is_string(json_object_get(o, "stdout")))
        return "stdout is not a string";
    if (!json_is_boolean(json_object_get(o, "stdout_truncated")))
        return "stdout_truncated is not a boolean";
    if (!json_is_string(json_object_get(o, "stderr")))
        return "stderr is not a string";
    if (!json_is_boolean(json_object_get(o, "stderr_truncated")))
        return "stderr_truncated is not a boolean";
    if (error == NULL || !(json_is_null(error) || json_is_object(error)))
        return "error is neither null nor an object";
    if (json_is_object(error)) {
        static const char *const keys[] = {"type", "message", "traceback", "module", "event"};

        if (!json_is_string(json_object_get(error, "kind")))
            return "error.kind is not a string";
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (json_object_get(error, keys[i]) == NULL)
                return "error lacks one of type, message, traceback, module, event";
    }
    for (i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
        if (!json_is_integer(json_object_get(json_object_get(o, "stats"), stats[i])))
            return "stats lacks one of wall_ms, cpu_ms, peak_rss_kib";
    if (!json_is_array(json_object_get(o, "figures")))
        return "figures is not an array";
    if (!json_is_boolean(json_object_get(o, "figures_truncated")))
        return "figures_truncated is not a boolean";
    if (!json_is_array(json_object_get(o, "files")))
        return "files is not an array";
    if (!json_is_array(json_object_get(o, "displays")))
        return "displays is not an array";
    if (!json_is_boolean(json_object_get(o, "displays_truncated")))
        return "displays_truncated is not a boolean";
    if (json_object_size(o) != 13)
        return "keys other than the 13 of the outcome";
    return NULL;
}

/* nftw() callback: removes one entry, children first, never through a symlink. */
static inline int psb_test__remove_entry(const char *path, const struct stat *st, int flag,
                                         struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes the tree at path (a test's scratch directory); symlinks are not followed. */
static inline void psb_test_remove_tree(const char *path) {
    nftw(path, psb_test__remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* PSB_TESTS_SUITE_H */
