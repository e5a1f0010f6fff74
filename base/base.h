/*
 * base/base.h - what every process of pysandbox uses and that knows
 * nothing of pysandbox's own design: errors, byte buffers, UTF-8 checks,
 * JSON text in and out (without building trees of untrusted bytes),
 * base64 and the monotonic clock. Includes only the public header.
 */
#ifndef PSB_BASE_BASE_H
#define PSB_BASE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "include/pysandbox.h"

/* ---- errors (error.c) ---- */

/*
 * Fills err (if not NULL and still empty: the first error wins) and returns
 * code, so an error branch is one line: return psb__err(err, PSB_EINVAL, ...).
 */
psb_status psb__err(psb_error *err, psb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, recording errno_value as sys_errno and appending strerror(). */
psb_status psb__err_sys(psb_error *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The kind a name stands for (psb_error_kind_name's inverse), or -1. */
int psb__kind_find(const char *name);
/* Clears err to "no error". NULL is a no-op. */
void psb__err_clear(psb_error *err);

/* ---- byte buffers (buf.c) ---- */

typedef struct psb__buf {
    char *data; /* NUL-terminated after every append; NULL when empty */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
} psb__buf;

/* Appends n bytes; returns 0, or -1 (buffer unchanged) when out of memory. */
int psb__buf_append(psb__buf *buf, const void *data, size_t n);
/* Frees the storage and empties the buffer. */
void psb__buf_free(psb__buf *buf);
/* Hands the storage to the caller (an empty buffer yields ""); NULL on ENOMEM. */
char *psb__buf_steal(psb__buf *buf);

/* ---- UTF-8 (utf8.c) ---- */

/* true if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool psb__utf8_valid(const char *s, size_t len);
/* true if s[0..len) holds a NUL byte. */
bool psb__has_nul(const char *s, size_t len);
/*
 * A JSON string from arbitrary bytes: invalid UTF-8 sequences become U+FFFD.
 * Returns a new reference or NULL when out of memory.
 */
json_t *psb__json_lossy_string(const char *s, size_t len);

/* ---- JSON text (jsondump.c) ---- */

/*
 * Compact JSON text of v (malloc'd) with floats in their shortest exact
 * form; NULL when out of memory.
 */
char *psb__json_dumps(const json_t *v);
/* Writes the shortest exact text of a finite double into out (NUL-terminated). */
typedef void (*psb__real_format_fn)(double d, char *out, size_t size);
/* Replaces the float formatter (NULL: the built-in one). Not thread-safe. */
void psb__json_set_real_format(psb__real_format_fn fn);

/* ---- untrusted bytes (jsoncheck.c) ---- */

/* Deepest nesting psb__json_text_valid() accepts. */
#define PSB__JSON_MAX_DEPTH 4096
/*
 * true if text[0..len) is exactly one JSON value (RFC 8259, valid UTF-8,
 * surrounding whitespace allowed) nested at most max_depth deep. Builds
 * nothing: O(1) memory.
 */
bool psb__json_text_valid(const char *text, size_t len, unsigned max_depth);
/* true if data is a PNG (signature and IHDR); fills its width and height. */
bool psb__png_size(const void *data, size_t len, unsigned *ret_width, unsigned *ret_height);

/* ---- base64 (base64.c) ---- */

/* base64 text of data (malloc'd, NUL-terminated), NULL when out of memory. */
char *psb__base64_encode(const void *data, size_t len);
/* Decodes padded base64; 0 with *ret filled, or -1 (bad input or ENOMEM). */
int psb__base64_decode(const char *text, size_t len, psb__buf *ret);

/* ---- time and I/O (frame.c) ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t psb__now_ns(void);
/* Reads exactly len bytes by the deadline (0: none); 0, or -1/errno (ECONNRESET at EOF). */
int psb__read_exact(int fd, void *dst, size_t len, uint64_t deadline_ns);
/* Writes all of data (EINTR and short writes retried). 0 or -1/errno. */
int psb__write_all(int fd, const void *data, size_t len);

#endif /* PSB_BASE_BASE_H */
