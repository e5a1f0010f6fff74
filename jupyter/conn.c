/*
 * conn.c - the wire of the Jupyter messaging protocol: the connection
 * file, HMAC-SHA256 signatures (OpenSSL's libcrypto) and multipart
 * messages over ZeroMQ:
 *   [identities..., "<IDS|MSG>", signature, header, parent_header,
 *    metadata, content, buffers...]
 * Everything a client sends is checked before it is believed: a message
 * whose signature does not match, or whose parts are not JSON objects, is
 * dropped with a reason; a part past JK_MAX_PART_BYTES never arrives
 * (ZMQ_MAXMSGSIZE drops the connection).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zmq.h>

#include "jupyter/jupyter.h"

static const char delimiter[] = "<IDS|MSG>";
/* Largest connection file read. */
#define CONN_MAX_BYTES (64u << 10)

void jk_uuid(char out[37]) {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* No entropy at all: ids still differ within this process. */
        static unsigned long serial;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long v[2] = {(unsigned long)ts.tv_nsec ^ (unsigned long)getpid(), ++serial};
        memcpy(b, v, sizeof b);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

int jk_conn_load(struct jk_conn *c, const char *path, char *err, size_t errsize) {
    static const char *const port_keys[JK_CHANNELS] = {"shell_port", "iopub_port", "stdin_port",
                                                       "control_port", "hb_port"};
    memset(c, 0, sizeof *c);
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, errsize, "connection file %s: %s", path, je.text);
        return -1;
    }
    const char *transport = json_string_value(json_object_get(doc, "transport"));
    const char *ip = json_string_value(json_object_get(doc, "ip"));
    const char *key = json_string_value(json_object_get(doc, "key"));
    const char *scheme = json_string_value(json_object_get(doc, "signature_scheme"));
    const char *bad = NULL;
    if (!json_is_object(doc))
        bad = "is not a JSON object";
    else if (!transport || (strcmp(transport, "tcp") != 0 && strcmp(transport, "ipc") != 0))
        bad = "\"transport\" must be \"tcp\" or \"ipc\"";
    else if (!ip || !ip[0] || strlen(ip) >= sizeof c->ip)
        bad = "\"ip\" must be an address (or an ipc path prefix)";
    else if (!key)
        bad = "\"key\" must be a string (empty: unsigned messages)";
    else if (scheme && strcmp(scheme, "hmac-sha256") != 0)
        bad = "\"signature_scheme\" must be \"hmac-sha256\"";
    for (int i = 0; !bad && i < JK_CHANNELS; i++) {
        json_t *p = json_object_get(doc, port_keys[i]);
        json_int_t v = json_is_integer(p) ? json_integer_value(p) : -1;
        if (v < 1 || v > 65535)
            bad = "every port (shell_port, iopub_port, stdin_port, control_port, hb_port) must "
                  "be 1..65535";
        else
            c->ports[i] = (int)v;
    }
    if (!bad) {
        snprintf(c->transport, sizeof c->transport, "%s", transport);
        snprintf(c->ip, sizeof c->ip, "%s", ip);
        c->key_len = strlen(key);
        c->key = malloc(c->key_len + 1);
        if (!c->key)
            bad = "out of memory";
        else
            memcpy(c->key, key, c->key_len + 1);
    }
    json_decref(doc);
    if (bad) {
        snprintf(err, errsize, "connection file %s: %s", path, bad);
        jk_conn_release(c);
        return -1;
    }
    jk_uuid(c->session);
    return 0;
}

void jk_conn_release(struct jk_conn *c) {
    if (c->key)
        OPENSSL_cleanse(c->key, c->key_len);
    free(c->key);
    c->key = NULL;
}

void jk_conn_endpoint(const struct jk_conn *c, enum jk_channel ch, char *buf, size_t size) {
    if (strcmp(c->transport, "ipc") == 0)
        snprintf(buf, size, "ipc://%s-%d", c->ip, c->ports[ch]);
    else
        snprintf(buf, size, "tcp://%s:%d", c->ip, c->ports[ch]);
}

/* The hex HMAC-SHA256 of the four parts (65 bytes with the NUL); "" without a key. */
static int sign(const struct jk_conn *c, const char *const parts[4], const size_t lens[4],
                char out[65]) {
    out[0] = '\0';
    if (c->key_len == 0)
        return 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    unsigned char md[32];
    size_t md_len = 0;
    int ok = ctx && EVP_MAC_init(ctx, c->key, c->key_len, params) == 1;
    for (int i = 0; ok && i < 4; i++)
        ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i], lens[i]) == 1;
    ok = ok && EVP_MAC_final(ctx, md, &md_len, sizeof md) == 1 && md_len == sizeof md;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        return -1;
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void jk_msg_release(struct jk_msg *m) {
    for (size_t i = 0; i < m->n_ids; i++)
        free(m->ids[i]);
    free(m->ids);
    free(m->id_lens);
    json_decref(m->header);
    json_decref(m->parent);
    json_decref(m->metadata);
    json_decref(m->content);
    memset(m, 0, sizeof *m);
}

/* The parts of one multipart message, each a zmq_msg_t. */
struct parts {
    zmq_msg_t *v;
    size_t n, cap;
};

static void parts_release(struct parts *p) {
    for (size_t i = 0; i < p->n; i++)
        zmq_msg_close(&p->v[i]);
    free(p->v);
}

/* Most parts a message may have; the rest of a longer one is read and dropped. */
#define MAX_PARTS 1024

/* Every part of the next message. 0; 1 when it had too many (dropped); -1 when the socket failed.
 */
static int recv_parts(void *sock, struct parts *p) {
    memset(p, 0, sizeof *p);
    int more = 1;
    while (more) {
        if (p->n == MAX_PARTS) {
            zmq_msg_t skip;
            zmq_msg_init(&skip);
            int rc;
            do
                rc = zmq_msg_recv(&skip, sock, 0);
            while (rc < 0 && errno == EINTR);
            more = rc >= 0 && zmq_msg_more(&skip);
            zmq_msg_close(&skip);
            if (rc < 0)
                return -1;
            if (!more)
                return 1;
            continue;
        }
        if (p->n == p->cap) {
            size_t cap = p->cap ? 2 * p->cap : 8;
            zmq_msg_t *grown = realloc(p->v, cap * sizeof *grown);
            if (!grown)
                return -1;
            p->v = grown;
            p->cap = cap;
        }
        zmq_msg_init(&p->v[p->n]);
        int rc;
        do
            rc = zmq_msg_recv(&p->v[p->n], sock, 0);
        while (rc < 0 && errno == EINTR);
        if (rc < 0) {
            zmq_msg_close(&p->v[p->n]);
            return -1;
        }
        more = zmq_msg_more(&p->v[p->n]);
        p->n++;
    }
    return 0;
}

int jk_msg_recv(const struct jk_conn *c, void *sock, struct jk_msg *m, char *why, size_t whysize) {
    struct parts p;
    memset(m, 0, sizeof *m);
    int got = recv_parts(sock, &p);
    if (got != 0) {
        parts_release(&p);
        if (got > 0)
            snprintf(why, whysize, "more than %d parts", MAX_PARTS);
        else
            snprintf(why, whysize, "receiving failed: %s", zmq_strerror(errno));
        return got > 0 ? 1 : -1;
    }
    size_t d = 0;
    while (d < p.n && !(zmq_msg_size(&p.v[d]) == sizeof delimiter - 1 &&
                        memcmp(zmq_msg_data(&p.v[d]), delimiter, sizeof delimiter - 1) == 0))
        d++;
    int rc = 1;
    if (d >= p.n || p.n - d < 6) {
        snprintf(why, whysize, "not a Jupyter message (no delimiter, or parts missing)");
        goto out;
    }
    const char *parts[4];
    size_t lens[4];
    for (int i = 0; i < 4; i++) {
        parts[i] = zmq_msg_data(&p.v[d + 2 + (size_t)i]);
        lens[i] = zmq_msg_size(&p.v[d + 2 + (size_t)i]);
    }
    char expect[65];
    const char *sig = zmq_msg_data(&p.v[d + 1]);
    size_t sig_len = zmq_msg_size(&p.v[d + 1]);
    if (sign(c, parts, lens, expect) != 0) {
        snprintf(why, whysize, "computing the signature failed");
        goto out;
    }
    if (sig_len != strlen(expect) || (sig_len && CRYPTO_memcmp(sig, expect, sig_len) != 0)) {
        snprintf(why, whysize, "bad signature");
        goto out;
    }
    json_t **dst[4] = {&m->header, &m->parent, &m->metadata, &m->content};
    for (int i = 0; i < 4; i++) {
        *dst[i] = json_loadb(parts[i], lens[i], JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(*dst[i])) {
            snprintf(why, whysize, "part %d is not a JSON object", i + 1);
            goto out;
        }
    }
    m->type = json_string_value(json_object_get(m->header, "msg_type"));
    if (!m->type || !json_is_string(json_object_get(m->header, "msg_id"))) {
        snprintf(why, whysize, "the header has no msg_type or msg_id");
        goto out;
    }
    m->ids = d ? calloc(d, sizeof *m->ids) : NULL;
    m->id_lens = d ? calloc(d, sizeof *m->id_lens) : NULL;
    if (d && (!m->ids || !m->id_lens)) {
        snprintf(why, whysize, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < d; i++) {
        m->id_lens[i] = zmq_msg_size(&p.v[i]);
        m->ids[i] = malloc(m->id_lens[i] ? m->id_lens[i] : 1);
        if (!m->ids[i]) {
            snprintf(why, whysize, "out of memory");
            goto out;
        }
        memcpy(m->ids[i], zmq_msg_data(&p.v[i]), m->id_lens[i]);
        m->n_ids = i + 1;
    }
    rc = 0;
out:
    parts_release(&p);
    if (rc != 0)
        jk_msg_release(m);
    return rc;
}

/* The time now as ISO 8601 with microseconds, UTC. */
static void iso_now(char out[40]) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static int send_part(void *sock, const void *data, size_t len, bool more) {
    int rc;
    do
        rc = zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -1 : 0;
}

int jk_msg_send(const struct jk_conn *c, void *sock, const struct jk_msg *parent, const char *type,
                json_t *content, const char *topic) {
    char id[37], date[40];
    jk_uuid(id);
    iso_now(date);
    json_t *header =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "msg_id", id, "session", c->session, "username",
                  "pysandbox", "date", date, "msg_type", type, "version", JK_PROTOCOL_VERSION);
    json_t *metadata = json_object();
    const json_t *parent_header = parent ? parent->header : NULL;
    json_t *empty = json_object();
    char *text[4] = {header ? json_dumps(header, JSON_COMPACT) : NULL,
                     json_dumps(parent_header ? parent_header : empty, JSON_COMPACT),
                     metadata ? json_dumps(metadata, JSON_COMPACT) : NULL,
                     content ? json_dumps(content, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL};
    json_decref(header);
    json_decref(metadata);
    json_decref(empty);
    json_decref(content);
    int rc = -1;
    const char *parts[4];
    size_t lens[4];
    char sig[65];
    for (int i = 0; i < 4; i++) {
        if (!text[i])
            goto out;
        parts[i] = text[i];
        lens[i] = strlen(text[i]);
    }
    if (sign(c, parts, lens, sig) != 0)
        goto out;
    rc = 0;
    if (topic)
        rc = send_part(sock, topic, strlen(topic), true);
    for (size_t i = 0; rc == 0 && !topic && parent && i < parent->n_ids; i++)
        rc = send_part(sock, parent->ids[i], parent->id_lens[i], true);
    if (rc == 0)
        rc = send_part(sock, delimiter, sizeof delimiter - 1, true);
    if (rc == 0)
        rc = send_part(sock, sig, strlen(sig), true);
    for (int i = 0; rc == 0 && i < 4; i++)
        rc = send_part(sock, parts[i], lens[i], i < 3);
out:
    for (int i = 0; i < 4; i++)
        free(text[i]);
    return rc;
}
