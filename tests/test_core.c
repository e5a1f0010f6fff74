/*
 * tests/test_core.c - the pieces the library and the helper share: frames,
 * UTF-8 checks and lossy decoding, error filling, request checks, fd
 * passing, the checks of untrusted bytes, the STATUS frame and the outcome
 * decision.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/host.h"
#include "policy/request.h"
#include "tests/suite.h"

START_TEST(frame_roundtrip) {
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(psb__frame_write(sv[0], PSB__FRAME_RESULT, "hello\0world", 11), 0);
    ck_assert_int_eq(psb__frame_write(sv[0], PSB__FRAME_STDIN, NULL, 0), 0);
    uint32_t type;
    psb__buf buf;
    ck_assert_int_eq(psb__frame_read(sv[1], &type, &buf, 0, 1024), 0);
    ck_assert_uint_eq(type, PSB__FRAME_RESULT);
    ck_assert_uint_eq(buf.len, 11);
    ck_assert_mem_eq(buf.data, "hello\0world", 11);
    psb__buf_free(&buf);
    ck_assert_int_eq(psb__frame_read(sv[1], &type, &buf, 0, 1024), 0);
    ck_assert_uint_eq(type, PSB__FRAME_STDIN);
    ck_assert_uint_eq(buf.len, 0);
    ck_assert_str_eq(buf.data, "");
    psb__buf_free(&buf);
    close(sv[0]);
    ck_assert_int_eq(psb__frame_read(sv[1], &type, &buf, 0, 1024), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    close(sv[1]);
}
END_TEST

START_TEST(frame_rejects_oversize_and_garbage) {
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char big[100] = {0};
    ck_assert_int_eq(psb__frame_write(sv[0], PSB__FRAME_RESULT, big, sizeof big), 0);
    uint32_t type;
    psb__buf buf;
    ck_assert_int_eq(psb__frame_read(sv[1], &type, &buf, 0, 50), -1);
    ck_assert_int_eq(errno, EPROTO);
    close(sv[0]);
    close(sv[1]);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[0], "0123456789abcdef", 16), 16); /* reserved word not zero */
    ck_assert_int_eq(psb__frame_read(sv[1], &type, &buf, 0, 1024), -1);
    ck_assert_int_eq(errno, EPROTO);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(frame_read_deadline) {
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint32_t type;
    psb__buf buf;
    ck_assert_int_eq(psb__frame_read(sv[1], &type, &buf, psb__now_ns() + 50000000u, 1024), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* The library says which version it is, as the header it was built with does. */
START_TEST(version) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", PSB_VERSION_MAJOR, PSB_VERSION_MINOR,
             PSB_VERSION_PATCH);
    ck_assert_str_eq(psb_version(), PSB_VERSION_STRING);
    ck_assert_str_eq(psb_version(), want);
}
END_TEST

START_TEST(utf8) {
    ck_assert(psb__utf8_valid("plain", 5));
    ck_assert(psb__utf8_valid("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    ck_assert(!psb__utf8_valid("\xff", 1));
    ck_assert(!psb__utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    ck_assert(!psb__utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!psb__utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    ck_assert(!psb__utf8_valid("\xe2\x82", 2));         /* truncated */
    ck_assert(psb__has_nul("a\0b", 3));
    ck_assert(!psb__has_nul("ab", 2));
    json_t *s = psb__json_lossy_string("a\xff"
                                       "b",
                                       3);
    ck_assert_str_eq(json_string_value(s), "a\xef\xbf\xbd"
                                           "b");
    json_decref(s);
}
END_TEST

START_TEST(code_check) {
    psb_error err = {0};
    ck_assert_int_eq(psb__code_check("x = 1", 5, "code", &err), PSB_OK);
    ck_assert_int_eq(psb__code_check("x\0", 2, "code", &err), PSB_EINVAL);
    ck_assert_str_eq(err.message, "code contains a NUL byte");
    psb__err_clear(&err);
    ck_assert_int_eq(psb__code_check("\xfe\xff", 2, "code", &err), PSB_EINVAL);
    ck_assert_str_eq(err.message, "code is not valid UTF-8");
}
END_TEST

START_TEST(first_error_wins) {
    psb_error err = {0};
    ck_assert_int_eq(psb__err(&err, PSB_EINVAL, "first %d", 1), PSB_EINVAL);
    ck_assert_int_eq(psb__err_sys(&err, ENOENT, "second"), PSB_ESYS);
    ck_assert_int_eq(err.code, PSB_EINVAL);
    ck_assert_str_eq(err.message, "first 1");
    psb__err_clear(&err);
    psb__err_sys(&err, ENOENT, "open x");
    ck_assert_int_eq(err.sys_errno, ENOENT);
    ck_assert_ptr_nonnull(strstr(err.message, "open x: No such file"));
    ck_assert_str_eq(psb_error_kind_name(PSB_KIND_RESULT_NOT_SERIALIZABLE),
                     "result_not_serializable");
    ck_assert_str_eq(psb_error_kind_name((psb_error_kind)999), "internal");
    ck_assert_str_eq(psb_status_str(PSB_EINVAL), "invalid argument");
}
END_TEST

/* Builds the default policy's request for code, with the limits it carries. */
static json_t *default_request(const char *code, psb__limits *ret_limits) {
    psb__policy pol;
    psb_error err = {0};
    ck_assert_int_eq(psb__policy_load("default", &pol, &err), PSB_OK);
    json_t *req = psb__request_build(&pol, NULL, NULL, code, strlen(code), ret_limits, &err);
    psb__policy_clear(&pol);
    ck_assert_ptr_nonnull(req);
    return req;
}

START_TEST(request_decodes_what_the_library_built) {
    psb__limits limits;
    json_t *doc = default_request("x = 1", &limits);
    struct psb__request req;
    char msg[128];
    ck_assert_int_eq(psb__request_decode(doc, &req, msg, sizeof msg), 0);
    ck_assert_str_eq(req.code, "x = 1");
    ck_assert_uint_eq(req.code_len, 5);
    ck_assert_ptr_null(req.prelude);
    ck_assert_ptr_null(req.inputs);
    ck_assert(memcmp(&req.limits, &limits, sizeof limits) == 0);
    ck_assert(req.default_allow);
    ck_assert(!req.network && !req.has_stdin);
    ck_assert_uint_gt(json_array_size(req.import_rules), 0);
    ck_assert_uint_eq(json_array_size(req.files), 0);
    struct psb__control control;
    ck_assert_int_eq(psb__control_decode(doc, &control, msg, sizeof msg), 0);
    ck_assert(memcmp(&control.limits, &limits, sizeof limits) == 0);
    ck_assert_ptr_eq(control.readable_paths, req.readable_paths);
    json_decref(doc);
    psb_error err = {0};
    psb__policy pol;
    ck_assert_int_eq(psb__policy_load("default", &pol, &err), PSB_OK);
    ck_assert_ptr_null(psb__request_build(&pol, NULL, NULL, "x\0", 2, &limits, &err));
    psb__policy_clear(&pol);
}
END_TEST

/* One change to a good request, and the key the refusal must name. */
static const struct {
    const char *path; /* "key" or "key.sub" */
    const char *json; /* the new value */
    const char *bad;  /* what the message names */
} malformed_requests[] = {
    {"limits.timeout_ms", "0", "timeout_ms"},
    {"limits.memory_mib", "-1", "memory_mib"},
    {"limits.cpu_s", "\"30\"", "cpu_s"},
    {"limits", "[]", "limits"},
    {"code", "1", "code"},
    {"code", "\"a\\u0000b\"", "code"},
    {"prelude", "[]", "prelude"},
    {"inputs", "[1]", "inputs"},
    {"env", "{\"A=B\": \"x\"}", "env"},
    {"env", "{\"A\": 1}", "env"},
    {"imports.rules", "[{\"module\": \"..\", \"allow\": true}]", "imports"},
    {"imports.rules", "[{\"module\": \"os\"}]", "imports"},
    {"imports.default_allow", "1", "imports"},
    {"denied_events", "[1]", "denied_events"},
    {"user_denied_events", "null", "user_denied_events"},
    {"readable_paths", "\"/\"", "readable_paths"},
    {"network", "\"no\"", "network"},
    {"has_stdin", "0", "has_stdin"},
    {"files", "[\"a\", 2]", "files"},
};

START_TEST(request_decode_names_the_bad_key) {
    const char *path = malformed_requests[_i].path;
    psb__limits limits;
    json_t *doc = default_request("x = 1", &limits);
    json_t *value = json_loads(malformed_requests[_i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    ck_assert_ptr_nonnull(value);
    const char *dot = strchr(path, '.');
    if (dot) {
        char outer[32];
        snprintf(outer, sizeof outer, "%.*s", (int)(dot - path), path);
        json_object_set_new(json_object_get(doc, outer), dot + 1, value);
    } else {
        json_object_set_new(doc, path, value);
    }
    struct psb__request req;
    char msg[128], want[128];
    ck_assert_int_eq(psb__request_decode(doc, &req, msg, sizeof msg), -1);
    snprintf(want, sizeof want, "malformed request: %s", malformed_requests[_i].bad);
    ck_assert_str_eq(msg, want);
    json_decref(doc);
}
END_TEST

START_TEST(json_dump_shortest_floats) {
    json_t *v =
        json_pack("[f,f,f,f,f,I,I,s,{s:n}]", 20.9, 0.1 + 0.2, 5.0, -0.0, 1e300,
                  (json_int_t)-9223372036854775807LL - 1, (json_int_t)42, "a\"\n\x01\xc3\xa9", "k");
    char *text = psb__json_dumps(v);
    ck_assert_str_eq(text, "[20.9,0.30000000000000004,5.0,-0.0,1e+300,"
                           "-9223372036854775808,42,\"a\\\"\\n\\u0001\xc3\xa9\",{\"k\":null}]");
    /* What it writes reads back to the same values. */
    json_t *back = json_loads(text, 0, NULL);
    ck_assert(json_equal(v, back));
    free(text);
    json_decref(back);
    json_decref(v);
}
END_TEST

START_TEST(base64_roundtrip) {
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *enc = psb__base64_encode(cases[i], strlen(cases[i]));
        ck_assert_str_eq(enc, want[i]);
        psb__buf dec;
        ck_assert_int_eq(psb__base64_decode(enc, strlen(enc), &dec), 0);
        ck_assert_uint_eq(dec.len, strlen(cases[i]));
        ck_assert(dec.len == 0 || memcmp(dec.data, cases[i], dec.len) == 0);
        psb__buf_free(&dec);
        free(enc);
    }
    psb__buf dec;
    ck_assert_int_eq(psb__base64_decode("Zm9", 3, &dec), -1);
    ck_assert_int_eq(psb__base64_decode("Zm=v", 4, &dec), -1);
    ck_assert_int_eq(psb__base64_decode("Z!9v", 4, &dec), -1);
}
END_TEST

/* The tree-free JSON check, case by case: valid texts and invalid ones. */
START_TEST(json_text_valid_cases) {
    static const char *const valid[] = {"null",
                                        "true",
                                        "false",
                                        "0",
                                        "-0",
                                        "1.5e-3",
                                        "-12E+4",
                                        "\"\"",
                                        "\"a\\n\\u00e9\\\"\"",
                                        "[]",
                                        "{}",
                                        " [ 1 , 2 ] ",
                                        "{\"a\":{\"b\":[null,{}]}}",
                                        "\"\xc3\xa9\"",
                                        "[[[]]]",
                                        "{\"k\":\"v\",\"k2\":[1,\"x\"]}"};
    static const char *const invalid[] = {"",
                                          " ",
                                          "{\"a\":",
                                          "nan",
                                          "NaN",
                                          "[1] [2]",
                                          "[1,]",
                                          "{\"a\":1,}",
                                          "01",
                                          "1.",
                                          ".5",
                                          "1e",
                                          "+1",
                                          "tru",
                                          "[",
                                          "]",
                                          "{1:2}",
                                          "{\"a\" 1}",
                                          "\"\\x\"",
                                          "\"\\u12\"",
                                          "\"\x01\"",
                                          "\"\xff\"",
                                          "\"\xed\xa0\x80\"",
                                          "{\"a\"}",
                                          "[1 2]",
                                          "\"abc",
                                          "[] x"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        ck_assert_msg(psb__json_text_valid(valid[i], strlen(valid[i]), 64), "rejected %s",
                      valid[i]);
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        ck_assert_msg(!psb__json_text_valid(invalid[i], strlen(invalid[i]), 64), "accepted '%s'",
                      invalid[i]);
    ck_assert(!psb__json_text_valid("\"a\0b\"", 5, 64)); /* a raw NUL in a string */
    /* Depth: exactly the cap passes, one more fails, however long the text. */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    ck_assert(psb__json_text_valid(deep, 200, 100));
    ck_assert(!psb__json_text_valid(deep, 200, 99));
    ck_assert(!psb__json_text_valid(deep, 199, 100));
}
END_TEST

START_TEST(png_size_checks) {
    unsigned char png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                             'I',  'H', 'D', 'R', 0,    0,    2,    128,  0, 0, 1, 224};
    unsigned w = 0, h = 0;
    ck_assert(psb__png_size(png, sizeof png, &w, &h));
    ck_assert_uint_eq(w, 640);
    ck_assert_uint_eq(h, 480);
    ck_assert(!psb__png_size(png, 32, &w, &h)); /* cut short */
    png[12] = 'X';
    ck_assert(!psb__png_size(png, sizeof png, &w, &h)); /* no IHDR first */
    png[12] = 'I';
    png[19] = 0;
    png[18] = 0;
    ck_assert(!psb__png_size(png, sizeof png, &w, &h)); /* zero width */
    ck_assert(!psb__png_size("<html><script>", 14, &w, &h));
}
END_TEST

/* The outcome decision as a table: kernel facts, reply state, claim -> kind. */
START_TEST(verdict_table) {
    static const struct {
        int code, signal;
        bool timed_out, oom, killed;
        uint64_t cpu_ms;
        enum psb__reply_state reply;
        psb_error_kind claim; /* PSB_KIND_NONE: ok */
        psb_error_kind want;
    } rows[] = {
        {0, 0, false, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_NONE, PSB_KIND_NONE},
        {0, 0, false, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_EXCEPTION, PSB_KIND_EXCEPTION},
        {0, 0, false, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_IMPORT_DENIED,
         PSB_KIND_IMPORT_DENIED},
        /* Kinds only the kernel may decide cannot be claimed. */
        {0, 0, false, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_TIMEOUT, PSB_KIND_CRASHED},
        {0, 0, false, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_CPU_LIMIT, PSB_KIND_CRASHED},
        {0, 0, false, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_INVALID_REQUEST,
         PSB_KIND_CRASHED},
        /* The kernel's facts win over any claim. */
        {0, SIGKILL, true, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_NONE, PSB_KIND_TIMEOUT},
        {0, SIGKILL, false, true, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_NONE,
         PSB_KIND_MEMORY_LIMIT},
        {0, SIGXCPU, false, false, false, 900, PSB__REPLY_COMPLETE, PSB_KIND_NONE,
         PSB_KIND_CPU_LIMIT},
        {0, SIGKILL, false, false, false, 1990, PSB__REPLY_NONE, PSB_KIND_NONE, PSB_KIND_CPU_LIMIT},
        {0, SIGKILL, false, false, true, 1990, PSB__REPLY_NONE, PSB_KIND_NONE, PSB_KIND_CRASHED},
        {0, SIGSEGV, false, false, false, 5, PSB__REPLY_COMPLETE, PSB_KIND_NONE, PSB_KIND_CRASHED},
        {0, 0, false, false, false, 5, PSB__REPLY_TOO_LARGE, PSB_KIND_NONE, PSB_KIND_OUTPUT_LIMIT},
        {0, 0, false, false, false, 5, PSB__REPLY_MALFORMED, PSB_KIND_NONE, PSB_KIND_CRASHED},
        {0, 0, false, false, false, 5, PSB__REPLY_NONE, PSB_KIND_NONE, PSB_KIND_CRASHED},
        {PSB__CHILD_SETUP_FAILED, 0, false, false, false, 5, PSB__REPLY_NONE, PSB_KIND_NONE,
         PSB_KIND_INTERNAL},
    };
    psb__limits limits;
    psb__limits_default(&limits);
    limits.v[PSB__LIMIT_CPU_S] = 2;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct psb__exit x = {.code = rows[i].code,
                              .signal = rows[i].signal,
                              .timed_out = rows[i].timed_out,
                              .oom = rows[i].oom,
                              .killed = rows[i].killed};
        x.stats.cpu_ms = rows[i].cpu_ms;
        char msg[256];
        enum psb__verdict_detail detail;
        psb_error_kind k =
            psb__verdict(&x, rows[i].reply, rows[i].claim, &limits, msg, sizeof msg, &detail);
        ck_assert_msg(k == rows[i].want, "row %zu: got %s, want %s (%s)", i, psb_error_kind_name(k),
                      psb_error_kind_name(rows[i].want), msg);
    }
    struct psb__exit err = {.error_kind = PSB_KIND_INVALID_REQUEST};
    snprintf(err.error_message, sizeof err.error_message, "bad");
    char msg[64];
    enum psb__verdict_detail detail;
    ck_assert_int_eq(
        psb__verdict(&err, PSB__REPLY_COMPLETE, PSB_KIND_NONE, &limits, msg, sizeof msg, &detail),
        PSB_KIND_INVALID_REQUEST);
    ck_assert_str_eq(msg, "bad");
}
END_TEST

/* STATUS frames survive the trip; garbage is refused. */
START_TEST(frame_admit_table) {
    psb__limits l;
    psb__limits_default(&l);
    l.v[PSB__LIMIT_RESULT_BYTES] = 100;
    l.v[PSB__LIMIT_FIGURES_BYTES] = 1000;
    l.v[PSB__LIMIT_FILES_BYTES] = 2000;
    l.v[PSB__LIMIT_DISPLAY_BYTES] = 300;
    l.v[PSB__LIMIT_DISPLAYS_BYTES] = 500;
    const uint64_t name = PSB__MAX_FILE_NAME + 1;
    static const struct psb__reply_count none = {0};
    const struct psb__reply_count some = {.figures = 2,
                                          .files = 3,
                                          .displays = 2,
                                          .figure_bytes = 900,
                                          .file_bytes = 1500,
                                          .display_bytes = 400};
    const struct psb__reply_count full = {
        .figures = PSB__MAX_FIGURES, .files = PSB__MAX_FILES, .displays = PSB__MAX_DISPLAYS};
    const struct {
        enum psb__reply_phase phase;
        uint32_t type;
        uint64_t len;
        const struct psb__reply_count *count;
        enum psb__reply_state want;
    } cases[] = {
        /* Order: REPLY, RESULT, then figures and files; nothing else, nothing twice. */
        {PSB__PHASE_REPLY, PSB__FRAME_REPLY, 10, &none, PSB__REPLY_NONE},
        {PSB__PHASE_REPLY, PSB__FRAME_RESULT, 10, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_REPLY, PSB__FRAME_FIGURE, 10, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_RESULT, PSB__FRAME_REPLY, 10, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_RESULT, PSB__FRAME_RESULT, 100, &none, PSB__REPLY_NONE},
        {PSB__PHASE_EXTRAS, PSB__FRAME_RESULT, 10, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_REPLY, 10, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_STATUS, 10, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_REQUEST, 10, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, 0x12345678u, 0, &none, PSB__REPLY_MALFORMED},
        /* Caps: the reply's own; the result's is an output limit. */
        {PSB__PHASE_REPLY, PSB__FRAME_REPLY, PSB__REPLY_MAX_BYTES, &none, PSB__REPLY_NONE},
        {PSB__PHASE_REPLY, PSB__FRAME_REPLY, PSB__REPLY_MAX_BYTES + 1, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_RESULT, PSB__FRAME_RESULT, 101, &none, PSB__REPLY_TOO_LARGE},
        {PSB__PHASE_RESULT, PSB__FRAME_RESULT, UINT64_MAX, &none, PSB__REPLY_TOO_LARGE},
        /* Figures and files share their byte caps across frames. */
        {PSB__PHASE_EXTRAS, PSB__FRAME_FIGURE, 1000, &none, PSB__REPLY_NONE},
        {PSB__PHASE_EXTRAS, PSB__FRAME_FIGURE, 100, &some, PSB__REPLY_NONE},
        {PSB__PHASE_EXTRAS, PSB__FRAME_FIGURE, 101, &some, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_FILE, 2000 + name, &none, PSB__REPLY_NONE},
        {PSB__PHASE_EXTRAS, PSB__FRAME_FILE, 500 + name, &some, PSB__REPLY_NONE},
        {PSB__PHASE_EXTRAS, PSB__FRAME_FILE, 501 + name, &some, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_FILE, UINT64_MAX, &none, PSB__REPLY_MALFORMED},
        /* A display bundle: its own cap, then what the total leaves. */
        {PSB__PHASE_EXTRAS, PSB__FRAME_DISPLAY, 300, &none, PSB__REPLY_NONE},
        {PSB__PHASE_EXTRAS, PSB__FRAME_DISPLAY, 301, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_DISPLAY, 100, &some, PSB__REPLY_NONE},
        {PSB__PHASE_EXTRAS, PSB__FRAME_DISPLAY, 101, &some, PSB__REPLY_MALFORMED},
        {PSB__PHASE_RESULT, PSB__FRAME_DISPLAY, 1, &none, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_DISPLAY, 1, &full, PSB__REPLY_MALFORMED},
        /* And their counts. */
        {PSB__PHASE_EXTRAS, PSB__FRAME_FIGURE, 1, &full, PSB__REPLY_MALFORMED},
        {PSB__PHASE_EXTRAS, PSB__FRAME_FILE, 1, &full, PSB__REPLY_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(psb__frame_admit(cases[i].phase, cases[i].type, cases[i].len, cases[i].count,
                                       &l) == cases[i].want,
                      "case %zu", i);
}
END_TEST

/* A DISPLAY payload from parts: kind byte, then (mime, value) pairs. */
static psb__buf display_payload(char kind, const char *const *pairs, size_t n) {
    psb__buf b = {0};
    ck_assert_int_eq(psb__buf_append(&b, &kind, 1), 0);
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint64_t len = strlen(pairs[i + 1]);
        ck_assert_int_eq(psb__buf_append(&b, pairs[i], strlen(pairs[i]) + 1), 0);
        ck_assert_int_eq(psb__buf_append(&b, &len, sizeof len), 0);
        ck_assert_int_eq(psb__buf_append(&b, pairs[i + 1], len), 0);
    }
    return b;
}

START_TEST(display_frame_table) {
    static const struct {
        char kind;
        const char *pairs[6];
        int want;
    } cases[] = {
        {'R', {"text/plain", "42"}, 0},
        {'D', {"text/plain", "x", "text/html", "<b>x</b>", "application/json", "[1,{}]"}, 0},
        {'D', {"text/plain", "x", "application/vnd.x+json", "{\"a\":1}"}, 0},
        {'X', {"text/plain", "42"}, -1},                           /* unknown kind */
        {'D', {"text/html", "<b>"}, -1},                           /* no text/plain */
        {'D', {"text/plain", "a", "text/plain", "b"}, -1},         /* twice */
        {'D', {"text/plain", "a", "textplain", "b"}, -1},          /* no slash */
        {'D', {"text/plain", "a", "text/pl ain", "b"}, -1},        /* a space */
        {'D', {"text/plain", "a", "a/b/c", "b"}, -1},              /* two slashes */
        {'D', {"text/plain", "\xff"}, -1},                         /* not UTF-8 */
        {'D', {"text/plain", "a", "application/json", "[1,"}, -1}, /* not JSON */
        {'D', {"text/plain", "a", "application/json", "1 2"}, -1}, /* two values */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = 0;
        while (n < 6 && cases[i].pairs[n])
            n++;
        psb__buf b = display_payload(cases[i].kind, cases[i].pairs, n);
        struct psb__mime_entry e[PSB__MAX_MIMES];
        size_t got = 0;
        bool result = false;
        ck_assert_msg(psb__display_frame_parse(&b, &result, e, &got) == cases[i].want, "case %zu",
                      i);
        if (cases[i].want == 0) {
            ck_assert_uint_eq(got, n / 2);
            ck_assert_int_eq(result, cases[i].kind == 'R');
            ck_assert_str_eq(e[0].mime, "text/plain");
        }
        psb__buf_free(&b);
    }
    /* Lengths that run past the end, a cut header, too many entries. */
    static const char *const ok[] = {"text/plain", "abc"};
    psb__buf b = display_payload('D', ok, 2);
    struct psb__mime_entry e[PSB__MAX_MIMES];
    size_t got;
    bool result;
    for (size_t cut = 0; cut < b.len; cut++) {
        psb__buf part = {.data = b.data, .len = cut};
        ck_assert_msg(psb__display_frame_parse(&part, &result, e, &got) == -1, "cut %zu", cut);
    }
    uint64_t huge = UINT64_MAX;
    memcpy(b.data + 1 + strlen("text/plain") + 1, &huge, sizeof huge);
    ck_assert_int_eq(psb__display_frame_parse(&b, &result, e, &got), -1);
    psb__buf_free(&b);
    psb__buf many = {0};
    ck_assert_int_eq(psb__buf_append(&many, "D", 1), 0);
    for (int i = 0; i <= PSB__MAX_MIMES; i++) {
        char mime[32];
        uint64_t len = 1;
        snprintf(mime, sizeof mime, i ? "text/x%d" : "text/plain", i);
        psb__buf_append(&many, mime, strlen(mime) + 1);
        psb__buf_append(&many, &len, sizeof len);
        psb__buf_append(&many, "a", 1);
    }
    ck_assert_int_eq(psb__display_frame_parse(&many, &result, e, &got), -1);
    psb__buf_free(&many);
}
END_TEST

START_TEST(claim_decode_table) {
    static const struct {
        const char *text;
        int rc;           /* what psb__claim_decode returns */
        const char *kind; /* the kind, when it decodes */
    } cases[] = {
        {"{\"status\":\"ok\"}", 0, NULL},
        {"{\"status\":\"ok\",\"error\":{\"kind\":\"timeout\"}}", 0, NULL},
        {"{\"status\":\"error\",\"error\":{\"kind\":\"exception\",\"type\":\"E\"}}", 0,
         "exception"},
        {"{\"status\":\"error\",\"error\":{\"kind\":\"denied\",\"event\":null}}", 0, "denied"},
        {"{\"status\":\"error\"}", -1, NULL},
        {"{\"status\":\"error\",\"error\":{}}", -1, NULL},
        {"{\"status\":\"error\",\"error\":{\"kind\":3}}", -1, NULL},
        {"{\"status\":\"error\",\"error\":{\"kind\":\"x\",\"message\":[1]}}", -1, NULL},
        {"{\"status\":\"fine\"}", -1, NULL},
        {"{\"status\":\"error\",\"error\":{\"kind\":\"bogus\"}}", -1, NULL},
        {"{\"status\":\"error\",\"error\":{\"kind\":\"none\"}}", -1, NULL},
        {"{\"status\":\"ok\",\"figures_truncated\":1}", -1, NULL},
        {"{}", -1, NULL},
        {"[\"ok\"]", -1, NULL},
        {"not json", -1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = NULL;
        struct psb__claim c;
        int rc = psb__claim_decode(cases[i].text, strlen(cases[i].text), &doc, &c);
        ck_assert_msg(rc == cases[i].rc, "case %zu: %s", i, cases[i].text);
        if (rc == 0) {
            ck_assert_msg(c.ok == !cases[i].kind, "case %zu", i);
            ck_assert(cases[i].kind ? strcmp(psb_error_kind_name(c.kind), cases[i].kind) == 0
                                    : c.kind == PSB_KIND_NONE);
            json_decref(doc);
        }
    }
}
END_TEST

START_TEST(status_roundtrip) {
    struct psb__exit x = {.code = 3, .signal = 0, .timed_out = true, .oom = true, .killed = true};
    x.stats = (psb_stats){.wall_ms = 11, .cpu_ms = 7, .peak_rss_kib = 5, .peak_memory_kib = 9};
    char *text = psb__exit_encode(&x);
    struct psb__exit y;
    ck_assert_int_eq(psb__exit_decode(text, strlen(text), &y), 0);
    ck_assert(y.code == 3 && y.timed_out && y.oom && y.killed && y.error_kind == PSB_KIND_NONE);
    ck_assert(y.stats.wall_ms == 11 && y.stats.cpu_ms == 7 && y.stats.peak_memory_kib == 9);
    free(text);
    ck_assert_int_eq(psb__exit_decode("{}", 2, &y), -1);
    ck_assert_int_eq(psb__exit_decode("[1]", 3, &y), -1);
    /* A message longer than error_message is cut between characters, not inside one. */
    char long_msg[400];
    memset(long_msg, 'a', 254);
    strcpy(long_msg + 254, "\xc3\xa9 and more");
    struct psb__exit z = {.error_kind = PSB_KIND_INTERNAL};
    memcpy(z.error_message, long_msg, sizeof z.error_message - 1); /* as snprintf() cuts it */
    text = psb__exit_encode(&z); /* the helper's side: 255 bytes, the last one half a character */
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(psb__exit_decode(text, strlen(text), &y), 0);
    ck_assert_uint_eq(strlen(y.error_message), 254);
    free(text);
    char doc[600];
    snprintf(doc, sizeof doc,
             "{\"code\":0,\"signal\":0,\"stats\":{},\"error\":{\"kind\":\"internal\","
             "\"message\":\"%s\"}}",
             long_msg);
    ck_assert_int_eq(psb__exit_decode(doc, strlen(doc), &y), 0); /* the library's side */
    ck_assert_uint_eq(strlen(y.error_message), 254);
    ck_assert(psb__utf8_valid(y.error_message, 254));
}
END_TEST

/* Passing fds: exactly the count asked for, or an error with every fd closed. */
START_TEST(fds_pass_exact_count) {
    int sv[2], p[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(pipe(p), 0);
    int two[2] = {p[0], p[1]}, got[3] = {-1, -1, -1};
    ck_assert_int_eq(psb__send_fds(sv[0], two, 2), 0);
    ck_assert_int_eq(psb__recv_fds(sv[1], got, 3, 0), -1); /* two, not three */
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_int_eq(psb__send_fds(sv[0], two, 2), 0);
    ck_assert_int_eq(psb__recv_fds(sv[1], got, 2, 0), 0);
    ck_assert(got[0] > 2 && got[1] > 2);
    close(got[0]);
    close(got[1]);
    close(sv[0]);
    ck_assert_int_eq(psb__recv_fds(sv[1], got, 1, 0), 1); /* EOF */
    close(sv[1]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = psb_tcase_create("core");
    tcase_add_test(tc, version);
    tcase_add_test(tc, frame_roundtrip);
    tcase_add_test(tc, frame_rejects_oversize_and_garbage);
    tcase_add_test(tc, frame_read_deadline);
    tcase_add_test(tc, utf8);
    tcase_add_test(tc, code_check);
    tcase_add_test(tc, first_error_wins);
    tcase_add_test(tc, request_decodes_what_the_library_built);
    tcase_add_loop_test(tc, request_decode_names_the_bad_key, 0,
                        (int)(sizeof malformed_requests / sizeof malformed_requests[0]));
    tcase_add_test(tc, json_dump_shortest_floats);
    tcase_add_test(tc, base64_roundtrip);
    tcase_add_test(tc, json_text_valid_cases);
    tcase_add_test(tc, png_size_checks);
    tcase_add_test(tc, verdict_table);
    tcase_add_test(tc, frame_admit_table);
    tcase_add_test(tc, display_frame_table);
    tcase_add_test(tc, claim_decode_table);
    tcase_add_test(tc, status_roundtrip);
    tcase_add_test(tc, fds_pass_exact_count);
    suite_add_tcase(s, tc);
    return psb_test_run(s);
}
