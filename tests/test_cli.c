/*
 * test_cli.c - end-to-end tests of the `pysandbox` command-line tool: runs
 * the built CLI (PSB_CLI_PATH) as a subprocess on real sandboxed Python and
 * checks its exit status, stdout (often the --json outcome) and stderr.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "include/pysandbox.h"
#include "tests/suite.h"

/* Ends run_cli()'s argument list: a typed null pointer, not a bare NULL. */
#define END ((const char *)NULL)

#define TEST_TIMEOUT_S 300 /* Check's per-test timeout */

/* ---- running the CLI ---------------------------------------------------- */

/* run_cli(&r, stdin_text, "run", "--json", END) */
__attribute__((sentinel)) static void run_cli(struct psb_cli_run *r, const char *in, ...) {
    const char *args[62];
    struct psb_cli_call call = {0};
    size_t n = 0;
    va_list ap;

    va_start(ap, in);
    do {
        ck_assert_uint_lt(n, 62);
        args[n] = va_arg(ap, const char *);
    } while (args[n++] != NULL);
    va_end(ap);
    call.args = args;
    call.in = in;
    call.in_len = in != NULL ? strlen(in) : 0;
    psb_cli_exec(r, &call);
}

/* ---- assertions on the output ------------------------------------------- */

/* stdout must be exactly one JSON object (whitespace around it allowed). */
static json_t *parse_outcome(const struct psb_cli_run *r) {
    json_error_t jerr;
    json_t *root = json_loadb(r->out, r->out_len, 0, &jerr);

    if (root == NULL || !json_is_object(root))
        psb_cli_dump("stdout is not one JSON object", r);
    ck_assert_msg(root != NULL, "stdout is not JSON: %s", jerr.text);
    ck_assert_msg(json_is_object(root), "stdout is not a JSON object");
    return root;
}

/* root[key] or root[key][sub] (sub may be NULL); NULL when absent. */
static json_t *jget(json_t *root, const char *key, const char *sub) {
    json_t *v = json_object_get(root, key);

    if (v != NULL && sub != NULL)
        v = json_object_get(v, sub);
    return v;
}

/* The string at root[key][sub], asserting that it is one. */
static const char *jstr(json_t *root, const char *key, const char *sub) {
    json_t *v = jget(root, key, sub);

    ck_assert_msg(json_is_string(v), "%s.%s is not a string", key, sub ? sub : "");
    return json_string_value(v);
}

/* Every key of the --json shape is there, with the right types. */
static void assert_shape(json_t *o) {
    const char *problem = psb_cli_shape_problem(o);

    ck_assert_msg(problem == NULL, "not the shape of an outcome: %s", problem);
}

/* A successful run: exit 0, status ok, error null; returns the outcome. */
static json_t *assert_ok(const struct psb_cli_run *r) {
    json_t *o = parse_outcome(r);

    if (r->status != 0)
        psb_cli_dump("expected success", r);
    assert_shape(o);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(jstr(o, "status", NULL), "ok");
    ck_assert(json_is_null(json_object_get(o, "error")));
    return o;
}

/* A failed run of the given kind and exit status; returns the outcome. */
static json_t *assert_failed(const struct psb_cli_run *r, const char *kind, int status) {
    json_t *o = parse_outcome(r);

    if (r->status != status)
        psb_cli_dump("unexpected exit status", r);
    assert_shape(o);
    ck_assert_str_eq(jstr(o, "status", NULL), "error");
    ck_assert_str_eq(jstr(o, "error", "kind"), kind);
    ck_assert_int_eq(r->status, status);
    return o;
}

static void assert_result_int(json_t *o, json_int_t expected) {
    json_t *result = json_object_get(o, "result");

    ck_assert_msg(json_is_integer(result), "result is not an integer");
    ck_assert_int_eq(json_integer_value(result), expected);
}

static void assert_contains(const char *haystack, const char *needle) {
    ck_assert_msg(strstr(haystack, needle) != NULL, "'%s' not found in:\n%s", needle, haystack);
}

/* ---- temporary files ---------------------------------------------------- */

static char tmpdir[64];
static char *tmpfiles[16];
static size_t n_tmpfiles;

/* The directory is made on first use: a failed test skips the teardown. */
static void tmp_setup(void) {
    tmpdir[0] = '\0';
    n_tmpfiles = 0;
}

static void tmp_teardown(void) {
    size_t i;

    for (i = 0; i < n_tmpfiles; i++) {
        unlink(tmpfiles[i]);
        free(tmpfiles[i]);
    }
    n_tmpfiles = 0;
    /* Tests of --output-dir and --figures-dir leave trees behind. */
    if (tmpdir[0] != '\0')
        psb_test_remove_tree(tmpdir);
}

/* The path of `name` in the test's directory (made on first use), in buf. */
static const char *tmp_path(const char *name, char *buf, size_t size) {
    if (tmpdir[0] == '\0') {
        strcpy(tmpdir, "/tmp/psb-test-cli-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    ck_assert_int_lt(snprintf(buf, size, "%s/%s", tmpdir, name), (int)size);
    return buf;
}

/* Writes data to a new file in the test's directory; returns its path. */
static const char *tmp_file(const char *name, const char *data, size_t len) {
    char path[256];
    FILE *f;

    ck_assert_uint_lt(n_tmpfiles, sizeof(tmpfiles) / sizeof(tmpfiles[0]));
    if (tmpdir[0] == '\0') {
        strcpy(tmpdir, "/tmp/psb-test-cli-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    tmpfiles[n_tmpfiles] = strdup(path);
    ck_assert_ptr_nonnull(tmpfiles[n_tmpfiles]);
    return tmpfiles[n_tmpfiles++];
}

static const char *tmp_text(const char *name, const char *text) {
    return tmp_file(name, text, strlen(text));
}

/* The whole contents of path (NUL-terminated; free() it), or NULL if unreadable. */
static char *read_whole(const char *path, size_t *ret_len) {
    char chunk[65536], *buf = calloc(1, 1);
    size_t len = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    ck_assert_ptr_nonnull(buf);
    if (fd < 0) {
        free(buf);
        return NULL;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        psb_test_append(&buf, &len, chunk, (size_t)n);
    close(fd);
    *ret_len = len;
    return buf;
}

/* 1 when path exists (as anything, a dangling symlink included). */
static int exists(const char *path) {
    struct stat st;

    return lstat(path, &st) == 0;
}

/* Checks the PNG signature and reads the IHDR width and height. */
static void assert_png(const unsigned char *data, size_t len, unsigned width, unsigned height) {
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned w, h;

    ck_assert_uint_ge(len, 24);
    ck_assert_msg(memcmp(data, signature, 8) == 0, "not a PNG signature");
    ck_assert_msg(memcmp(data + 12, "IHDR", 4) == 0, "the first chunk is not IHDR");
    w = (unsigned)data[16] << 24 | (unsigned)data[17] << 16 | (unsigned)data[18] << 8 | data[19];
    h = (unsigned)data[20] << 24 | (unsigned)data[21] << 16 | (unsigned)data[22] << 8 | data[23];
    ck_assert_uint_eq(w, width);
    ck_assert_uint_eq(h, height);
}

/* Decodes standard base64 (with '=' padding); asserts it is well formed. */
static unsigned char *base64_decode(const char *text, size_t *ret_len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(text), i, out = 0;
    unsigned char *buf;
    unsigned acc = 0;
    int bits = 0;

    ck_assert_msg(n % 4 == 0, "base64 length %zu is not a multiple of 4", n);
    buf = malloc(n / 4 * 3 + 1);
    ck_assert_ptr_nonnull(buf);
    for (i = 0; i < n && text[i] != '='; i++) {
        const char *p = strchr(alphabet, text[i]);

        ck_assert_msg(p != NULL && text[i] != '\0', "bad base64 character at %zu", i);
        acc = (acc << 6) | (unsigned)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[out++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    for (; i < n; i++)
        ck_assert_msg(text[i] == '=', "data after base64 padding");
    *ret_len = out;
    return buf;
}

/* ---- basic runs --------------------------------------------------------- */

START_TEST(test_json_ok) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = 1 + 1\n", "run", "--json", END);
    o = assert_ok(&r);
    assert_result_int(o, 2);
    ck_assert_str_eq(jstr(o, "stdout", NULL), "");
    ck_assert(json_is_false(json_object_get(o, "stdout_truncated")));
    ck_assert_int_gt(json_integer_value(jget(o, "stats", "wall_ms")), 0);
    ck_assert_int_gt(json_integer_value(jget(o, "stats", "peak_rss_kib")), 0);
    ck_assert_uint_eq(r.err_len, 0);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_code_from_file) {
    const char *path = tmp_text("code.py", "print('hi')\nresult = [1, 'a']\n");
    struct psb_cli_run r;
    json_t *o, *result;

    run_cli(&r, NULL, "run", path, "--json", END);
    o = assert_ok(&r);
    result = json_object_get(o, "result");
    ck_assert(json_is_array(result));
    ck_assert_uint_eq(json_array_size(result), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(result, 0)), 1);
    ck_assert_str_eq(json_string_value(json_array_get(result, 1)), "a");
    ck_assert_str_eq(jstr(o, "stdout", NULL), "hi\n");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_code_from_stdin) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = 'from stdin'\n", "run", "--json", "-", END);
    o = assert_ok(&r);
    ck_assert_str_eq(jstr(o, "result", NULL), "from stdin");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_inputs_inline) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = inputs['x'] * 2\n", "run", "--json", "--inputs", "{\"x\": 21}", END);
    o = assert_ok(&r);
    assert_result_int(o, 42);
    json_decref(o);
    psb_cli_run_free(&r);

    run_cli(&r, "result = inputs['x'] * 2\n", "run", "--json", "--inputs={\"x\": 4}", END);
    o = assert_ok(&r);
    assert_result_int(o, 8);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_inputs_file) {
    const char *inputs = tmp_text("inputs.json", "{\"x\": 5, \"unused\": [1, 2]}\n");
    char flag[300];
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = inputs['x'] * 2\n", "run", "--inputs-file", inputs, "--json", END);
    o = assert_ok(&r);
    assert_result_int(o, 10);
    json_decref(o);
    psb_cli_run_free(&r);

    snprintf(flag, sizeof(flag), "--inputs-file=%s", inputs);
    run_cli(&r, "result = inputs['x'] * 2\n", "run", flag, "--json", END);
    o = assert_ok(&r);
    assert_result_int(o, 10);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_stdin_file) {
    const char *data = tmp_text("data.txt", "line one\nline two\n");
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "import sys\nresult = sys.stdin.read()\n", "run", "--json", "--stdin-file", data,
            END);
    o = assert_ok(&r);
    ck_assert_str_eq(jstr(o, "result", NULL), "line one\nline two\n");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_stdin_file_from_our_stdin) {
    const char *code = tmp_text("code.py", "import sys\nresult = sys.stdin.read().upper()\n");
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "piped data", "run", code, "--stdin-file", "-", "--json", END);
    o = assert_ok(&r);
    ck_assert_str_eq(jstr(o, "result", NULL), "PIPED DATA");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_env) {
    struct psb_cli_run r;
    json_t *o;

    /* A later --env replaces an earlier one; the value may hold '='. */
    run_cli(&r, "import os\nresult = [os.environ.get('GREETING'), os.environ.get('B')]\n", "run",
            "--json", "--env", "GREETING=hello", "--env=B=x=y", "--env", "GREETING=hi", END);
    o = assert_ok(&r);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "result"), 0)), "hi");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "result"), 1)), "x=y");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_prelude) {
    const char *prelude = tmp_text("prelude.py", "def double(v):\n    return v * 2\n");
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = double(21)\n", "run", "--json", "--prelude-file", prelude, END);
    o = assert_ok(&r);
    assert_result_int(o, 42);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_result_not_serializable) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = object()\n", "run", "--json", END);
    o = assert_failed(&r, "result_not_serializable", 1);
    ck_assert(json_is_null(json_object_get(o, "result")));
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

/* ---- policy ------------------------------------------------------------- */

START_TEST(test_deny_import) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "import json\nresult = 1\n", "run", "--json", "--deny-import", "json", END);
    o = assert_failed(&r, "import_denied", 4);
    ck_assert_str_eq(jstr(o, "error", "module"), "json");
    ck_assert(json_is_null(json_object_get(o, "result")));
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_allow_import) {
    struct psb_cli_run r;
    json_t *o;

    /* The strict preset does not allow csv... */
    run_cli(&r, "import csv\nresult = csv.QUOTE_ALL\n", "run", "--json", "--policy", "strict", END);
    o = assert_failed(&r, "import_denied", 4);
    ck_assert_str_eq(jstr(o, "error", "module"), "csv");
    json_decref(o);
    psb_cli_run_free(&r);

    /* ...unless --allow-import says so. */
    run_cli(&r, "import csv\nresult = csv.QUOTE_ALL\n", "run", "--json", "--policy", "strict",
            "--allow-import", "csv", END);
    o = assert_ok(&r);
    assert_result_int(o, 1);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_policy_file) {
    const char *policy = tmp_text(
        "policy.json", "{\"imports\": {\"default\": \"allow\", \"deny\": [\"decimal\"]}}\n");
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "import fractions\nimport decimal\n", "run", "--json", "--policy", policy, END);
    o = assert_failed(&r, "import_denied", 4);
    ck_assert_str_eq(jstr(o, "error", "module"), "decimal");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_readable_denied) {
    struct psb_cli_run r;

    run_cli(&r, "import json\n", "run", "--deny-import", "json", END);
    if (r.status != 4)
        psb_cli_dump("expected exit 4", &r);
    ck_assert_int_eq(r.status, 4);
    assert_contains(r.err, "error: import_denied");
    assert_contains(r.err, "module: json");
    psb_cli_run_free(&r);
}
END_TEST

/* ---- limits and failures ------------------------------------------------ */

START_TEST(test_timeout) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "while True:\n    pass\n", "run", "--json", "--timeout", "1", END);
    o = assert_failed(&r, "timeout", 3);
    ck_assert_int_ge(json_integer_value(jget(o, "stats", "wall_ms")), 900);
    ck_assert_int_lt(json_integer_value(jget(o, "stats", "wall_ms")), 10000);
    ck_assert_msg(r.seconds < 30, "the CLI took %.1f s for a 1 s timeout", r.seconds);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_timeout_fraction) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "import time\ntime.sleep(30)\n", "run", "--json", "--timeout=0.5", END);
    o = assert_failed(&r, "timeout", 3);
    ck_assert_int_ge(json_integer_value(jget(o, "stats", "wall_ms")), 400);
    ck_assert_int_lt(json_integer_value(jget(o, "stats", "wall_ms")), 5000);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_cpu_limit) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "while True:\n    pass\n", "run", "--json", "--cpu-seconds", "1", "--timeout", "20",
            END);
    o = assert_failed(&r, "cpu_limit", 3);
    ck_assert_int_ge(json_integer_value(jget(o, "stats", "cpu_ms")), 900);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_memory_limit) {
    struct psb_cli_run r;
    json_t *o;
#if defined(__SANITIZE_ADDRESS__)
    printf("test_memory_limit: skipped under AddressSanitizer (its shadow memory does not fit "
           "an RLIMIT_AS)\n");
    return;
#endif

    run_cli(&r, "x = bytearray(400 * 1024 * 1024)\nresult = len(x)\n", "run", "--json",
            "--memory-mb", "100", END);
    o = assert_failed(&r, "memory_limit", 3);
    ck_assert(json_is_null(json_object_get(o, "result")));
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_exception) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "x = 1\nraise ValueError('boom')\n", "run", "--json", END);
    o = assert_failed(&r, "exception", 1);
    ck_assert_str_eq(jstr(o, "error", "type"), "ValueError");
    assert_contains(jstr(o, "error", "message"), "boom");
    assert_contains(jstr(o, "error", "traceback"), "line 2");
    assert_contains(jstr(o, "error", "traceback"), "ValueError");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_syntax_error) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "x = 1\ndef f(:\n    pass\n", "run", "--json", END);
    o = assert_failed(&r, "syntax_error", 1);
    ck_assert_str_eq(jstr(o, "error", "type"), "SyntaxError");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_crash) {
    struct psb_cli_run r;
    json_t *o;
    const char *kind;

    run_cli(&r, "import faulthandler\nfaulthandler._sigsegv()\n", "run", "--json", END);
    o = parse_outcome(&r);
    assert_shape(o);
    kind = jstr(o, "error", "kind");
    if (strcmp(kind, "crashed") == 0) {
        ck_assert_int_eq(r.status, 5);
    } else {
        /* A policy may refuse faulthandler; then it is a denial, not a pass. */
        printf("test_crash: faulthandler refused by the policy (kind %s): "
               "the crash path is not exercised\n",
               kind);
        ck_assert_msg(strcmp(kind, "denied") == 0 || strcmp(kind, "import_denied") == 0,
                      "unexpected kind %s", kind);
        ck_assert_int_eq(r.status, 4);
    }
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_helper_missing) {
    static const char *const args[] = {"run", "--json", NULL};
    static const char *const env[] = {"PYSANDBOX_HELPER=/nonexistent/pysandbox-helper", NULL};
    struct psb_cli_call call = {args, "result = 1\n", 11, env, NULL};
    struct psb_cli_run r;
    json_t *o;

    psb_cli_exec(&r, &call);
    o = assert_failed(&r, "internal", 6);
    ck_assert_int_gt(strlen(jstr(o, "error", "message")), 0);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

/* ---- execution mode and input files -------------------------------------- */

START_TEST(test_cold) {
    static const char has_numpy[] = "import sys\nresult = 'numpy' in sys.modules\n";
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = 1 + 1\n", "run", "--json", "--cold", END);
    o = assert_ok(&r);
    assert_result_int(o, 2);
    json_decref(o);
    psb_cli_run_free(&r);

    /* A fresh interpreter has imported nothing the code did not ask for... */
    run_cli(&r, has_numpy, "run", "--cold", "--json", END);
    o = assert_ok(&r);
    ck_assert_msg(json_is_false(json_object_get(o, "result")), "numpy preloaded under --cold");
    json_decref(o);
    psb_cli_run_free(&r);

    /* ...while the warm helper preloads numpy. */
    run_cli(&r, has_numpy, "run", "--json", END);
    o = assert_ok(&r);
    ck_assert_msg(json_is_true(json_object_get(o, "result")), "numpy not preloaded when warm");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_file_input) {
    static const char code[] =
        "import pandas as pd\nresult = int(pd.read_csv('data/in.csv').b.sum())\n";
    const char *csv = tmp_text("in.csv", "a,b\n1,10\n2,20\n3,12\n");
    const char *notes = tmp_text("notes.txt", "first\n");
    char flag[300], flag2[300];
    struct psb_cli_run r;
    json_t *o;

    snprintf(flag, sizeof(flag), "data/in.csv=%s", csv);
    run_cli(&r, code, "run", "--json", "--file", flag, END);
    o = assert_ok(&r);
    assert_result_int(o, 42);
    json_decref(o);
    psb_cli_run_free(&r);

    /* --file=NAME=PATH, repeatable; the copies are read-only. */
    snprintf(flag, sizeof(flag), "--file=data/in.csv=%s", csv);
    snprintf(flag2, sizeof(flag2), "--file=notes.txt=%s", notes);
    run_cli(&r,
            "import pandas as pd\n"
            "try:\n"
            "    open('notes.txt', 'w')\n"
            "    writable = True\n"
            "except OSError:\n"
            "    writable = False\n"
            "result = [int(pd.read_csv('data/in.csv').a.sum()), open('notes.txt').read(),\n"
            "          writable]\n",
            "run", flag, flag2, "--json", END);
    o = assert_ok(&r);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(o, "result"), 0)), 6);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "result"), 1)), "first\n");
    ck_assert(json_is_false(json_array_get(json_object_get(o, "result"), 2)));
    json_decref(o);
    psb_cli_run_free(&r);

    /* A name that would leave the working directory runs nothing. */
    snprintf(flag, sizeof(flag), "../x=%s", csv);
    run_cli(&r, "result = 1\n", "run", "--json", "--file", flag, END);
    o = assert_failed(&r, "invalid_request", 2);
    assert_contains(jstr(o, "error", "message"), "--file");
    assert_contains(jstr(o, "error", "message"), "../x");
    json_decref(o);
    psb_cli_run_free(&r);

    snprintf(flag, sizeof(flag), "/abs=%s", csv);
    run_cli(&r, "result = 1\n", "run", "--json", "--file", flag, END);
    o = assert_failed(&r, "invalid_request", 2);
    assert_contains(jstr(o, "error", "message"), "/abs");
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

/* ---- files and figures written to disk ------------------------------------ */

static const char writes_files[] = "import os\n"
                                   "os.makedirs('sub', exist_ok=True)\n"
                                   "open('out.csv', 'w').write('x,y\\n1,2\\n')\n"
                                   "open('sub/x.txt', 'w').write('hello')\n"
                                   "result = 'done'\n";

START_TEST(test_output_dir) {
    char dir[256], path[300], top[256];
    struct psb_cli_run r;
    struct stat st;
    size_t len = 0;
    char *data;
    json_t *o;

    int had_out_csv = exists("out.csv"), had_sub = exists("sub");

    /* DIR and its parent do not exist yet. */
    tmp_path("out/nested", dir, sizeof(dir));
    run_cli(&r, writes_files, "run", "--output-dir", dir, END);
    if (r.status != 0)
        psb_cli_dump("expected success", &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_null(strstr(r.err, "not shown")); /* written, so no note */

    snprintf(path, sizeof(path), "%s/out.csv", dir);
    data = read_whole(path, &len);
    ck_assert_msg(data != NULL, "%s was not written", path);
    ck_assert_str_eq(data, "x,y\n1,2\n");
    free(data);
    snprintf(path, sizeof(path), "%s/sub/x.txt", dir);
    data = read_whole(path, &len);
    ck_assert_msg(data != NULL, "%s was not written", path);
    ck_assert_str_eq(data, "hello");
    free(data);
    snprintf(path, sizeof(path), "%s/sub", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0022, 0); /* 0755 at most */

    /* Nothing lands outside DIR: not in its parents, not in our directory. */
    ck_assert(!exists(tmp_path("out/out.csv", top, sizeof(top))));
    ck_assert(!exists(tmp_path("out.csv", top, sizeof(top))));
    ck_assert(!exists(tmp_path("out/sub", top, sizeof(top))));
    ck_assert(had_out_csv || !exists("out.csv"));
    ck_assert(had_sub || !exists("sub"));
    psb_cli_run_free(&r);

    /* Again with --output-dir=DIR and --json: the files are also in the JSON. */
    snprintf(path, sizeof(path), "--output-dir=%s", dir);
    run_cli(&r, "open('second.txt', 'w').write('2')\n", "run", path, "--json", END);
    o = assert_ok(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "files")), 1);
    snprintf(path, sizeof(path), "%s/second.txt", dir);
    data = read_whole(path, &len);
    ck_assert_msg(data != NULL, "%s was not written", path);
    ck_assert_str_eq(data, "2");
    free(data);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_output_dir_symlinks) {
    const char *victim = tmp_text("victim", "precious\n");
    char dir[256], elsewhere[256], path[300], target[300];
    struct psb_cli_run r;
    size_t len = 0;
    char *data;

    /* Someone planted symlinks in DIR, to a directory and to a file. */
    tmp_path("out", dir, sizeof(dir));
    tmp_path("elsewhere", elsewhere, sizeof(elsewhere));
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
    snprintf(path, sizeof(path), "%s/sub", dir);
    ck_assert_int_eq(symlink(elsewhere, path), 0);
    snprintf(path, sizeof(path), "%s/out.csv", dir);
    ck_assert_int_eq(symlink(victim, path), 0);

    run_cli(&r,
            "import os\nos.makedirs('sub', exist_ok=True)\n"
            "open('sub/x.txt', 'w').write('hello')\n"
            "open('out.csv', 'w').write('overwritten')\n"
            "open('fine.txt', 'w').write('fine')\n",
            "run", "--output-dir", dir, END);
    if (r.status != 6)
        psb_cli_dump("expected exit 6", &r);
    /* The code succeeded, but two of its files could not be saved. */
    ck_assert_int_eq(r.status, 6);
    assert_contains(r.err, "symbolic link");
    assert_contains(r.err, "sub/x.txt");
    assert_contains(r.err, "out.csv");

    snprintf(target, sizeof(target), "%s/x.txt", elsewhere);
    ck_assert_msg(!exists(target), "wrote through the directory symlink");
    data = read_whole(victim, &len);
    ck_assert_ptr_nonnull(data);
    ck_assert_str_eq(data, "precious\n");
    free(data);
    /* The others are still written. */
    snprintf(path, sizeof(path), "%s/fine.txt", dir);
    data = read_whole(path, &len);
    ck_assert_msg(data != NULL, "%s was not written", path);
    ck_assert_str_eq(data, "fine");
    free(data);
    psb_cli_run_free(&r);
}
END_TEST

static const char draws_two[] = "import matplotlib.pyplot as plt\n"
                                "plt.figure(figsize=(4,3), dpi=50)\n"
                                "plt.plot([1,2])\n"
                                "plt.figure(figsize=(2,2), dpi=50)\n"
                                "plt.bar(['a'],[1])\n";

START_TEST(test_figures_dir) {
    static const unsigned expect[2][2] = {{200, 150}, {100, 100}};
    char dir[256], path[300];
    struct psb_cli_run r;
    json_t *o, *figures;
    size_t len = 0, dlen = 0, i;
    unsigned char *decoded;
    char *data;

    tmp_path("figs", dir, sizeof(dir));
    run_cli(&r, draws_two, "run", "--figures-dir", dir, END);
    if (r.status != 0)
        psb_cli_dump("expected success", &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_null(strstr(r.err, "not shown"));
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/figure-%zu.png", dir, i + 1);
        data = read_whole(path, &len);
        ck_assert_msg(data != NULL, "%s was not written", path);
        assert_png((const unsigned char *)data, len, expect[i][0], expect[i][1]);
        free(data);
    }
    snprintf(path, sizeof(path), "%s/figure-3.png", dir);
    ck_assert(!exists(path));
    psb_cli_run_free(&r);

    /* --json: the same figures, base64 in the outcome and on disk. */
    snprintf(path, sizeof(path), "--figures-dir=%s", dir);
    run_cli(&r, draws_two, "run", "--json", path, END);
    o = assert_ok(&r);
    figures = json_object_get(o, "figures");
    ck_assert_uint_eq(json_array_size(figures), 2);
    for (i = 0; i < 2; i++) {
        json_t *fig = json_array_get(figures, i);

        ck_assert_str_eq(json_string_value(json_object_get(fig, "mime")), "image/png");
        ck_assert_int_eq(json_integer_value(json_object_get(fig, "width")), expect[i][0]);
        ck_assert_int_eq(json_integer_value(json_object_get(fig, "height")), expect[i][1]);
        decoded = base64_decode(json_string_value(json_object_get(fig, "base64")), &dlen);
        ck_assert_msg(memcmp(decoded, "\x89PNG\r\n\x1a\n", 8) == 0, "not a PNG");
        assert_png(decoded, dlen, expect[i][0], expect[i][1]);
        snprintf(path, sizeof(path), "%s/figure-%zu.png", dir, i + 1);
        data = read_whole(path, &len);
        ck_assert_ptr_nonnull(data);
        ck_assert_uint_eq(len, dlen);
        ck_assert_msg(memcmp(data, decoded, len) == 0, "figure %zu on disk differs", i + 1);
        free(data);
        free(decoded);
    }
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

/* ---- output caps ---------------------------------------------------------- */

START_TEST(test_result_limit) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "result = 'x' * 1000\n", "run", "--json", "--result-limit-bytes", "100", END);
    o = assert_failed(&r, "output_limit", 3);
    ck_assert(json_is_null(json_object_get(o, "result")));
    json_decref(o);
    psb_cli_run_free(&r);

    run_cli(&r, "result = 'x' * 50\n", "run", "--json", "--result-limit-bytes=100", END);
    o = assert_ok(&r);
    ck_assert_uint_eq(strlen(jstr(o, "result", NULL)), 50);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_files_limit) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, "open('f.txt', 'w').write('x' * 100)\n", "run", "--json", "--files-limit-bytes",
            "10", END);
    o = assert_failed(&r, "output_limit", 3);
    json_decref(o);
    psb_cli_run_free(&r);

    run_cli(&r, "open('f.txt', 'w').write('x' * 100)\n", "run", "--json", "--files-limit-bytes=100",
            END);
    o = assert_ok(&r);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(json_object_get(o, "files"), 0), "size")),
        100);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_figures_limit) {
    struct psb_cli_run r;
    json_t *o;

    run_cli(&r, draws_two, "run", "--json", "--figures-limit-bytes", "0", END);
    o = assert_ok(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "figures")), 0);
    ck_assert(json_is_true(json_object_get(o, "figures_truncated")));
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_output_limits) {
    static const char code[] = "import sys\nprint('x' * 100)\nsys.stderr.write('y' * 100)\n";
    struct psb_cli_run r;
    json_t *o;

    /* Only stdout capped: stderr keeps the default 1 MiB. */
    run_cli(&r, code, "run", "--json", "--stdout-limit-bytes", "10", END);
    o = assert_ok(&r);
    ck_assert_str_eq(jstr(o, "stdout", NULL), "xxxxxxxxxx");
    ck_assert(json_is_true(json_object_get(o, "stdout_truncated")));
    ck_assert_uint_eq(strlen(jstr(o, "stderr", NULL)), 100);
    ck_assert(json_is_false(json_object_get(o, "stderr_truncated")));
    json_decref(o);
    psb_cli_run_free(&r);

    /* Only stderr capped: stdout keeps the default. */
    run_cli(&r, code, "run", "--json", "--stderr-limit-bytes=5", END);
    o = assert_ok(&r);
    ck_assert_str_eq(jstr(o, "stderr", NULL), "yyyyy");
    ck_assert(json_is_true(json_object_get(o, "stderr_truncated")));
    ck_assert_uint_eq(strlen(jstr(o, "stdout", NULL)), 101);
    ck_assert(json_is_false(json_object_get(o, "stdout_truncated")));
    json_decref(o);
    psb_cli_run_free(&r);

    /* Both, readable: the raw bytes and the notes. */
    run_cli(&r, code, "run", "--stdout-limit-bytes", "3", "--stderr-limit-bytes", "4", END);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "xxx");
    assert_contains(r.err, "yyyy\n[pysandbox: stdout truncated]");
    assert_contains(r.err, "[pysandbox: stderr truncated]");
    psb_cli_run_free(&r);
}
END_TEST

/* ---- readable output ---------------------------------------------------- */

START_TEST(test_readable_ok) {
    struct psb_cli_run r;

    run_cli(&r,
            "import sys\nprint('hello')\nprint('warn', file=sys.stderr)\n"
            "result = {'a': [1, 2]}\n",
            "run", END);
    if (r.status != 0)
        psb_cli_dump("expected success", &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strncmp(r.out, "hello\n", 6) == 0, "stdout does not start with the output");
    assert_contains(r.out, "result: ");
    assert_contains(r.out, "result: {\"a\":[1,2]}");
    assert_contains(r.err, "warn\n");
    ck_assert_ptr_null(strstr(r.err, "error:"));
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_readable_no_result) {
    struct psb_cli_run r;

    run_cli(&r, "print('only output', end='')\n", "run", END);
    if (r.status != 0)
        psb_cli_dump("expected success", &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "only output"); /* raw bytes, nothing added */
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_readable_error) {
    struct psb_cli_run r;

    run_cli(&r, "print('before')\nraise ValueError('boom')\n", "run", END);
    if (r.status != 1)
        psb_cli_dump("expected exit 1", &r);
    ck_assert_int_eq(r.status, 1);
    assert_contains(r.out, "before\n");
    assert_contains(r.err, "error: exception: ValueError: boom");
    assert_contains(r.err, "Traceback");
    assert_contains(r.err, "line 2");
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_readable_truncated) {
    struct psb_cli_run r;

    /* The default stdout cap is 1 MiB. */
    run_cli(&r, "print('x' * 2000000)\n", "run", END);
    if (r.status != 0)
        psb_cli_dump("expected success", &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.out_len, (size_t)1 << 20);
    assert_contains(r.err, "[pysandbox: stdout truncated]");
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_readable_files_note) {
    struct psb_cli_run r;
    json_t *o, *files;

    run_cli(&r, "open('out.txt', 'w').write('hi')\n", "run", "--json", END);
    o = assert_ok(&r);
    files = json_object_get(o, "files");
    ck_assert_uint_eq(json_array_size(files), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(files, 0), "name")),
                     "out.txt");
    json_decref(o);
    psb_cli_run_free(&r);

    run_cli(&r, "open('out.txt', 'w').write('hi')\n", "run", END);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.out_len, 0);
    assert_contains(r.err, "1 file(s) not shown; write them with --output-dir DIR, or use --json");
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_readable_figures_note) {
    char dir[256];
    struct psb_cli_run r;

    /* A figure and a file, neither written: both flags are named. */
    run_cli(&r,
            "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
            "open('out.txt', 'w').write('hi')\n",
            "run", END);
    ck_assert_int_eq(r.status, 0);
    assert_contains(r.err, "1 figure(s) and 1 file(s) not shown");
    assert_contains(r.err, "--figures-dir DIR");
    assert_contains(r.err, "--output-dir DIR");
    psb_cli_run_free(&r);

    /* The figures are written: the note is only about the file. */
    run_cli(&r,
            "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
            "open('out.txt', 'w').write('hi')\n",
            "run", "--figures-dir", tmp_path("figs", dir, sizeof(dir)), END);
    ck_assert_int_eq(r.status, 0);
    assert_contains(r.err, "1 file(s) not shown; write them with --output-dir DIR");
    ck_assert_ptr_null(strstr(r.err, "figure(s)"));
    psb_cli_run_free(&r);

    /* Only a figure, nothing given. */
    run_cli(&r, "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n", "run", END);
    ck_assert_int_eq(r.status, 0);
    assert_contains(r.err, "1 figure(s) not shown; write them with --figures-dir DIR");
    ck_assert_ptr_null(strstr(r.err, "--output-dir"));
    psb_cli_run_free(&r);
}
END_TEST

/* ---- bad input: exit 2, a message, nothing run -------------------------- */

struct bad_case {
    const char *args[6]; /* after "run" */
    const char *code;    /* given on stdin */
    size_t code_len;
    const char *expect; /* part of the message */
};

#define CODE(s) s, sizeof(s) - 1

static const struct bad_case bad_cases[] = {
    {{"--bogus"}, CODE("result = 1\n"), "--bogus"},
    {{"/nonexistent/dir/code.py"}, CODE(""), "/nonexistent/dir/code.py"},
    {{"--inputs", "{"}, CODE("result = 1\n"), "--inputs"},
    {{"--inputs", "[1]"}, CODE("result = 1\n"), "--inputs"},
    {{"--inputs", "{\"a\": 1} x"}, CODE("result = 1\n"), "--inputs"},
    {{"--timeout", "-1"}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout", "0"}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout", "abc"}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout", "1x"}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout", "1e3"}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout", ""}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout", "100000"}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout", "99999999999999999999999"}, CODE("result = 1\n"), "--timeout"},
    {{"--timeout"}, CODE("result = 1\n"), "--timeout"},
    {{"--memory-mb", "0"}, CODE("result = 1\n"), "--memory-mb"},
    {{"--memory-mb", "-5"}, CODE("result = 1\n"), "--memory-mb"},
    {{"--memory-mb", "1.5"}, CODE("result = 1\n"), "--memory-mb"},
    {{"--memory-mb", "99999999999999999999999"}, CODE("result = 1\n"), "--memory-mb"},
    {{"--cpu-seconds", "0"}, CODE("result = 1\n"), "--cpu-seconds"},
    {{"--cpu-seconds", " 5"}, CODE("result = 1\n"), "--cpu-seconds"},
    {{NULL}, CODE("result = 1\0\n"), "NUL"},
    {{NULL}, CODE("result = '\xff\xfe'\n"), "UTF-8"},
    {{"--env", "NOEQUALS"}, CODE("result = 1\n"), "--env"},
    {{"--env", "1BAD=x"}, CODE("result = 1\n"), "--env"},
    {{"a.py", "b.py"}, CODE(""), "b.py"},
    {{"--inputs-file", "/nonexistent/inputs.json"}, CODE("result = 1\n"), "inputs.json"},
    {{"--stdin-file", "/nonexistent/data.txt"}, CODE("result = 1\n"), "data.txt"},
    {{"--prelude-file", "/nonexistent/prelude.py"}, CODE("result = 1\n"), "prelude.py"},
    {{"--inputs", "{}", "--inputs-file", "/dev/null"}, CODE("result = 1\n"), "--inputs"},
    {{"--inputs-file", "-"}, CODE("{}"), "standard input"},
    {{"--policy", "no-such-preset"}, CODE("result = 1\n"), "--policy"},
    {{"--allow-import", "not a module!"}, CODE("result = 1\n"), "--allow-import"},
    {{"--json=yes"}, CODE("result = 1\n"), "--json"},
    {{"--cold=yes"}, CODE("result = 1\n"), "--cold"},
    {{"--file", "NOEQUALS"}, CODE("result = 1\n"), "--file"},
    {{"--file", "=/dev/null"}, CODE("result = 1\n"), "--file"},
    {{"--file", "../x=/dev/null"}, CODE("result = 1\n"), "../x"},
    {{"--file", "/abs=/dev/null"}, CODE("result = 1\n"), "/abs"},
    {{"--file", "a//b=/dev/null"}, CODE("result = 1\n"), "a//b"},
    {{"--file", "in.csv=/nonexistent/in.csv"}, CODE("result = 1\n"), "/nonexistent/in.csv"},
    {{"--file"}, CODE("result = 1\n"), "--file"},
    {{"--output-dir", "/dev/null/x"}, CODE("result = 1\n"), "--output-dir"},
    {{"--output-dir", ""}, CODE("result = 1\n"), "--output-dir"},
    {{"--figures-dir", "/dev/null"}, CODE("result = 1\n"), "--figures-dir"},
    {{"--result-limit-bytes", "abc"}, CODE("result = 1\n"), "--result-limit-bytes"},
    {{"--result-limit-bytes", "1"}, CODE("result = 1\n"), "--result-limit-bytes"},
    {{"--figures-limit-bytes", "-1"}, CODE("result = 1\n"), "--figures-limit-bytes"},
    {{"--files-limit-bytes", "99999999999"}, CODE("result = 1\n"), "--files-limit-bytes"},
    {{"--stdout-limit-bytes", "1.5"}, CODE("result = 1\n"), "--stdout-limit-bytes"},
    {{"--stderr-limit-bytes", "2000000000"}, CODE("result = 1\n"), "--stderr-limit-bytes"},
    {{"--stdout-limit-bytes", "2000000000", "--stderr-limit-bytes", "1"},
     CODE("result = 1\n"),
     "--stdout-limit-bytes"},
};

#define N_BAD_CASES ((int)(sizeof(bad_cases) / sizeof(bad_cases[0])))

/* Runs bad case i, with "--json" first when json. */
static void run_bad_case(struct psb_cli_run *r, int i, int json) {
    const struct bad_case *c = &bad_cases[i];
    const char *args[10];
    struct psb_cli_call call = {args, c->code, c->code_len, NULL, NULL};
    size_t n = 0, k;

    args[n++] = "run";
    if (json)
        args[n++] = "--json";
    for (k = 0; k < 6 && c->args[k] != NULL; k++)
        args[n++] = c->args[k];
    args[n] = NULL;
    psb_cli_exec(r, &call);
    if (r->status != 2)
        psb_cli_dump("expected exit 2", r);
}

START_TEST(test_bad_input_plain) {
    struct psb_cli_run r;

    run_bad_case(&r, _i, 0);
    ck_assert_msg(r.status == 2, "case %d: exit %d, expected 2", _i, r.status);
    assert_contains(r.err, "pysandbox: error: ");
    assert_contains(r.err, bad_cases[_i].expect);
    ck_assert_msg(r.out_len == 0, "case %d: stdout is not empty: %s", _i, r.out);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_bad_input_json) {
    struct psb_cli_run r;
    json_t *o;

    run_bad_case(&r, _i, 1);
    o = assert_failed(&r, "invalid_request", 2);
    assert_contains(jstr(o, "error", "message"), bad_cases[_i].expect);
    ck_assert(json_is_null(json_object_get(o, "result")));
    ck_assert_str_eq(jstr(o, "stdout", NULL), "");
    ck_assert_str_eq(jstr(o, "stderr", NULL), "");
    ck_assert_int_eq(json_integer_value(jget(o, "stats", "wall_ms")), 0);
    ck_assert_msg(r.err_len == 0, "case %d: stderr is not empty: %s", _i, r.err);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_code_too_large) {
    size_t len = ((size_t)16 << 20) + 1;
    char *big = malloc(len);
    const char *path;
    struct psb_cli_run r;

    ck_assert_ptr_nonnull(big);
    memset(big, '#', len); /* a valid comment, only too long */
    path = tmp_file("big.py", big, len);
    free(big);
    run_cli(&r, NULL, "run", path, END);
    ck_assert_int_eq(r.status, 2);
    assert_contains(r.err, "larger than the limit");
    psb_cli_run_free(&r);
}
END_TEST

/* ---- doctor ---------------------------------------------------------------- */

/* The line of the readable doctor table that starts with layer. */
static const char *doctor_line(const char *out, const char *layer, char *buf, size_t size) {
    const char *p = out;
    size_t n = strlen(layer), len;

    for (; p != NULL && *p != '\0'; p = strchr(p, '\n') != NULL ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, layer, n) == 0 && p[n] == ' ') {
            len = strchr(p, '\n') != NULL ? (size_t)(strchr(p, '\n') - p) : strlen(p);
            if (len >= size)
                len = size - 1;
            memcpy(buf, p, len);
            buf[len] = '\0';
            return buf;
        }
    }
    ck_abort_msg("no '%s' line in:\n%s", layer, out);
    return NULL;
}

START_TEST(test_doctor) {
    static const char *const layers[] = {"seccomp", "landlock", "namespaces", "unprivileged"};
    char line[512];
    struct psb_cli_run r;
    size_t i;

    run_cli(&r, NULL, "doctor", END);
    if (r.status != 0)
        psb_cli_dump("expected doctor to pass on this machine", &r);
    ck_assert_int_eq(r.status, 0);
    for (i = 0; i < sizeof(layers) / sizeof(layers[0]); i++)
        assert_contains(doctor_line(r.out, layers[i], line, sizeof(line)), " holds ");
    assert_contains(r.out, "effective kernel layers: 4 of 4");
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_doctor_json) {
    struct psb_cli_run r;
    json_t *o, *layers, *layer;
    size_t i;

    run_cli(&r, NULL, "doctor", "--json", END);
    o = parse_outcome(&r); /* exactly one JSON object on stdout */
    if (r.status != 0)
        psb_cli_dump("expected doctor to pass on this machine", &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert(json_is_true(json_object_get(o, "ok")));
    layers = json_object_get(o, "layers");
    ck_assert(json_is_array(layers));
    ck_assert_uint_eq(json_array_size(layers), 5);
    json_array_foreach(layers, i, layer) {
        ck_assert(json_is_string(json_object_get(layer, "layer")));
        ck_assert_msg(json_is_true(json_object_get(layer, "proven")), "layer %s is not proven",
                      json_string_value(json_object_get(layer, "layer")));
        ck_assert(json_is_true(json_object_get(layer, "available")));
    }
    ck_assert_uint_eq(json_array_size(json_object_get(o, "effective")), 4);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_doctor_bad_policy) {
    struct psb_cli_run r;

    run_cli(&r, NULL, "doctor", "--policy", "nope", END);
    ck_assert_int_eq(r.status, 2);
    assert_contains(r.err, "--policy");
    ck_assert_uint_eq(r.out_len, 0);
    psb_cli_run_free(&r);
}
END_TEST

/* ---- help, version, dispatch -------------------------------------------- */

START_TEST(test_help) {
    struct psb_cli_run r;

    run_cli(&r, NULL, "--help", END);
    ck_assert_int_eq(r.status, 0);
    assert_contains(r.out, "Usage: pysandbox");
    assert_contains(r.out, "run");
    assert_contains(r.out, "Exit status");
    psb_cli_run_free(&r);

    run_cli(&r, NULL, "run", "--help", END);
    ck_assert_int_eq(r.status, 0);
    assert_contains(r.out, "Usage: pysandbox run");
    assert_contains(r.out, "--inputs-file");
    assert_contains(r.out, "--deny-import");
    assert_contains(r.out, "--timeout");
    assert_contains(r.out, "6  internal");
    assert_contains(r.out, "--cold");
    assert_contains(r.out, "--file NAME=PATH");
    assert_contains(r.out, "--output-dir DIR");
    assert_contains(r.out, "--figures-dir DIR");
    assert_contains(r.out, "--result-limit-bytes N");
    assert_contains(r.out, "--figures-limit-bytes N");
    assert_contains(r.out, "--files-limit-bytes N");
    assert_contains(r.out, "--stdout-limit-bytes N");
    assert_contains(r.out, "--stderr-limit-bytes N");
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_version) {
    struct psb_cli_run r;

    run_cli(&r, NULL, "--version", END);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "pysandbox " PSB_VERSION_STRING "\n");
    psb_cli_run_free(&r);

    run_cli(&r, NULL, "run", "--version", END);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "pysandbox " PSB_VERSION_STRING "\n");
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_unknown_command) {
    struct psb_cli_run r;

    run_cli(&r, NULL, "frobnicate", END);
    ck_assert_int_eq(r.status, 2);
    assert_contains(r.err, "unknown command 'frobnicate'");
    psb_cli_run_free(&r);

    run_cli(&r, NULL, END);
    ck_assert_int_eq(r.status, 2);
    assert_contains(r.err, "Usage: pysandbox");
    psb_cli_run_free(&r);
}
END_TEST

static Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *basic = tcase_create("basic");
    TCase *policy = tcase_create("policy");
    TCase *limits = tcase_create("limits");
    TCase *readable = tcase_create("readable");
    TCase *bad = tcase_create("bad_input");
    TCase *meta = tcase_create("meta");
    TCase *outputs = tcase_create("outputs");
    TCase *doctor = tcase_create("doctor");
    TCase *all[] = {basic, policy, limits, readable, bad, meta, outputs, doctor};
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        tcase_set_timeout(all[i], TEST_TIMEOUT_S);
        tcase_add_checked_fixture(all[i], tmp_setup, tmp_teardown);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_test(basic, test_json_ok);
    tcase_add_test(basic, test_code_from_file);
    tcase_add_test(basic, test_code_from_stdin);
    tcase_add_test(basic, test_inputs_inline);
    tcase_add_test(basic, test_inputs_file);
    tcase_add_test(basic, test_stdin_file);
    tcase_add_test(basic, test_stdin_file_from_our_stdin);
    tcase_add_test(basic, test_env);
    tcase_add_test(basic, test_prelude);
    tcase_add_test(basic, test_result_not_serializable);
    tcase_add_test(basic, test_cold);
    tcase_add_test(basic, test_file_input);
    tcase_add_test(outputs, test_output_dir);
    tcase_add_test(outputs, test_output_dir_symlinks);
    tcase_add_test(outputs, test_figures_dir);
    tcase_add_test(outputs, test_result_limit);
    tcase_add_test(outputs, test_files_limit);
    tcase_add_test(outputs, test_figures_limit);
    tcase_add_test(outputs, test_output_limits);
    tcase_add_test(doctor, test_doctor);
    tcase_add_test(doctor, test_doctor_json);
    tcase_add_test(doctor, test_doctor_bad_policy);
    tcase_add_test(policy, test_deny_import);
    tcase_add_test(policy, test_allow_import);
    tcase_add_test(policy, test_policy_file);
    tcase_add_test(policy, test_readable_denied);
    tcase_add_test(limits, test_timeout);
    tcase_add_test(limits, test_timeout_fraction);
    tcase_add_test(limits, test_cpu_limit);
    tcase_add_test(limits, test_memory_limit);
    tcase_add_test(limits, test_exception);
    tcase_add_test(limits, test_syntax_error);
    tcase_add_test(limits, test_crash);
    tcase_add_test(limits, test_helper_missing);
    tcase_add_test(readable, test_readable_ok);
    tcase_add_test(readable, test_readable_no_result);
    tcase_add_test(readable, test_readable_error);
    tcase_add_test(readable, test_readable_truncated);
    tcase_add_test(readable, test_readable_files_note);
    tcase_add_test(readable, test_readable_figures_note);
    tcase_add_loop_test(bad, test_bad_input_plain, 0, N_BAD_CASES);
    tcase_add_loop_test(bad, test_bad_input_json, 0, N_BAD_CASES);
    tcase_add_test(bad, test_code_too_large);
    tcase_add_test(meta, test_help);
    tcase_add_test(meta, test_version);
    tcase_add_test(meta, test_unknown_command);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(cli_suite());
    int failed;

    if (access(PSB_CLI_PATH, X_OK) != 0) {
        fprintf(stderr, "test_cli: %s is not built\n", PSB_CLI_PATH);
        srunner_free(sr);
        return EXIT_FAILURE;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
