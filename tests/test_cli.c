/*
 * test_cli.c - the end-to-end tests of the `pysandbox` command-line tool that
 * need C: timing (timeouts, CPU time), an outcome that decides what to
 * expect (a crash the policy may refuse), a build-time guard (AddressSanitizer),
 * the files and figures the CLI writes to disk, a generated 16 MiB input,
 * the doctor's table read layer by layer, and the version macro. The cases
 * that are only arguments, stdin and the expected output are data in
 * tests/cli/cases/, run by tests/cli/cli_cases.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
    /* The kernel's figure, which on a loaded machine can fall short of the
     * limit that fired (accounting samples): it shows the burn, not a clock. */
    ck_assert_int_ge(json_integer_value(jget(o, "stats", "cpu_ms")), 500);
    json_decref(o);
    psb_cli_run_free(&r);
}
END_TEST

START_TEST(test_memory_limit) {
    struct psb_cli_run r;
    json_t *o;
#ifdef PSB_SANITIZE
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

/* ---- bad input: exit 2, a message, nothing run -------------------------- */

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

/* ---- version ------------------------------------------------------------ */

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

/* ---- signals ---------------------------------------------------------------- */

/* SIGINT or SIGTERM while the code runs: the child is stopped, the run reports cancelled. */
static void interrupt_with(int sig) {
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[1]);
        close(out[0]);
        execl(PSB_CLI_PATH, PSB_CLI_PATH, "run", "--json", "-", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    const char *code = "import sys, time\nsys.stderr.write('running\\n'); sys.stderr.flush()\n"
                       "print('running', flush=True)\ntime.sleep(600)\n";
    ck_assert_int_eq(write(in[1], code, strlen(code)), (ssize_t)strlen(code));
    close(in[1]);
    /* The CLI handles the signals before it spawns its helper: once the helper is
     * there, a signal cancels, whether the code runs yet or not. */
    char path[64], kids[256] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    for (int i = 0; i < 1000 && kids[0] == '\0'; i++) {
        FILE *f = fopen(path, "r");
        if (f && !fgets(kids, sizeof kids, f))
            kids[0] = '\0';
        if (f)
            fclose(f);
        if (kids[0] == '\0')
            usleep(10 * 1000);
    }
    ck_assert_msg(kids[0] != '\0', "the CLI never started its helper");
    usleep(500 * 1000); /* mostly, the code is running by now: that is the case to see */
    ck_assert_int_eq(kill(pid, sig), 0);
    char buf[65536];
    size_t len = 0;
    ssize_t n;
    while ((n = read(out[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(out[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status 0x%x, stdout %s", status,
                  buf);
    json_t *o = json_loads(buf, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"), "kind")),
                     "cancelled");
    json_decref(o);
}

START_TEST(test_sigint_cancels) {
    interrupt_with(SIGINT);
}
END_TEST

START_TEST(test_sigterm_cancels) {
    interrupt_with(SIGTERM);
}
END_TEST

/* ---- run --connect ------------------------------------------------------ */

/* A `pysandbox serve --listen unix:PATH` of this test; its pid. */
static pid_t start_server(const char *path) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        char listen[300];
        snprintf(listen, sizeof listen, "unix:%s", path);
        execl(PSB_CLI_PATH, PSB_CLI_PATH, "serve", "--listen", listen, (char *)NULL);
        _exit(127);
    }
    /* Ready once the socket exists (it is bound before the helper starts). */
    struct stat st;
    for (int i = 0; i < 600 && stat(path, &st) != 0; i++)
        usleep(50 * 1000);
    ck_assert_msg(S_ISSOCK(st.st_mode), "serve did not create %s", path);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    return pid;
}

static void stop_server(pid_t pid) {
    int status = 0;
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "serve ended with status 0x%x",
                  status);
}

START_TEST(test_connect) {
    char path[256], target[300];
    snprintf(path, sizeof path, "%s/serve.sock", tmpdir);
    snprintf(target, sizeof target, "unix:%s", path);
    pid_t server = start_server(path);
    struct psb_cli_run here, there;
    const char *code = "print('hi')\nresult = {'x': inputs['x'] * 2, 'f': 20.9}";
    /* The same flags give the same outcome (stats aside), here and through the server. */
    run_cli(&here, code, "run", "--json", "--inputs", "{\"x\": 21}", END);
    run_cli(&there, code, "run", "--json", "--inputs", "{\"x\": 21}", "--connect", target, END);
    json_t *a = assert_ok(&here), *b = assert_ok(&there);
    json_object_del(a, "stats");
    json_object_del(b, "stats");
    ck_assert_msg(json_equal(a, b), "local %s\nserver %s", here.out, there.out);
    json_decref(a);
    json_decref(b);
    psb_cli_run_free(&here);
    psb_cli_run_free(&there);
    /* A refusal keeps its exit status and readable report. */
    run_cli(&there, "import socket", "run", "--connect", target, END);
    ck_assert_int_eq(there.status, 4);
    ck_assert_ptr_nonnull(strstr(there.err, "error: import_denied"));
    psb_cli_run_free(&there);
    /* The server's policy applies: --policy is a usage error, and nothing runs. */
    run_cli(&there, "print('ran')", "run", "--connect", target, "--policy", "strict", END);
    ck_assert_int_eq(there.status, 2);
    ck_assert_ptr_null(strstr(there.out, "ran"));
    psb_cli_run_free(&there);
    stop_server(server);
    /* No server: exit 6 with a message naming the path. */
    run_cli(&there, "result = 1", "run", "--connect", target, END);
    ck_assert_int_eq(there.status, 6);
    ck_assert_ptr_nonnull(strstr(there.err, path));
    psb_cli_run_free(&there);
}
END_TEST

static Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *limits = psb_tcase_create("limits");
    TCase *outputs = psb_tcase_create("outputs");
    TCase *bad = psb_tcase_create("bad_input");
    TCase *doctor = psb_tcase_create("doctor");
    TCase *meta = psb_tcase_create("meta");
    TCase *connect = psb_tcase_create("connect");
    TCase *all[] = {limits, outputs, bad, doctor, meta, connect};
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        tcase_set_timeout(all[i], TEST_TIMEOUT_S);
        tcase_add_checked_fixture(all[i], tmp_setup, tmp_teardown);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_test(outputs, test_output_dir);
    tcase_add_test(outputs, test_output_dir_symlinks);
    tcase_add_test(outputs, test_figures_dir);
    tcase_add_test(doctor, test_doctor);
    tcase_add_test(doctor, test_doctor_json);
    tcase_add_test(limits, test_timeout);
    tcase_add_test(limits, test_timeout_fraction);
    tcase_add_test(limits, test_cpu_limit);
    tcase_add_test(limits, test_memory_limit);
    tcase_add_test(limits, test_crash);
    tcase_add_test(bad, test_code_too_large);
    tcase_add_test(meta, test_version);
    tcase_add_test(connect, test_connect);
    tcase_add_test(limits, test_sigint_cancels);
    tcase_add_test(limits, test_sigterm_cancels);
    return s;
}

int main(void) {
    if (access(PSB_CLI_PATH, X_OK) != 0) {
        fprintf(stderr, "test_cli: %s is not built\n", PSB_CLI_PATH);
        return EXIT_FAILURE;
    }
    return psb_test_run(cli_suite());
}
