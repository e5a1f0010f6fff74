/*
 * tests/test_core.c - the pieces the library and the helper share: frames,
 * UTF-8 checks and lossy decoding, error filling, request checks.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "embed/internal.h"
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

START_TEST(request_check_rejects_malformed) {
    psb__policy pol;
    psb_error err = {0};
    ck_assert_int_eq(psb__policy_load("default", &pol, &err), PSB_OK);
    json_t *req = psb__request_build(&pol, NULL, "x = 1", 5, &err);
    ck_assert_ptr_nonnull(req);
    char msg[128];
    ck_assert_int_eq(psb__request_check(req, msg, sizeof msg), 0);
    json_object_set_new(json_object_get(req, "limits"), "timeout_ms", json_integer(0));
    ck_assert_int_eq(psb__request_check(req, msg, sizeof msg), -1);
    ck_assert_str_eq(msg, "malformed request: timeout_ms");
    json_decref(req);
    req = psb__request_build(&pol, NULL, "x\0", 2, &err);
    ck_assert_ptr_null(req);
    psb__policy_clear(&pol);
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

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, frame_roundtrip);
    tcase_add_test(tc, frame_rejects_oversize_and_garbage);
    tcase_add_test(tc, frame_read_deadline);
    tcase_add_test(tc, utf8);
    tcase_add_test(tc, code_check);
    tcase_add_test(tc, first_error_wins);
    tcase_add_test(tc, request_check_rejects_malformed);
    tcase_add_test(tc, json_dump_shortest_floats);
    tcase_add_test(tc, base64_roundtrip);
    suite_add_tcase(s, tc);
    return psb_test_run(s);
}
