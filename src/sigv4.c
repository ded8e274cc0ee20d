/* AWS Signature Version 4. The canonical request is written through a small
 * "sink" that either appends to a buffer or feeds a SHA-256 digest, so the hot
 * path (sigv4_authorization) hashes it without ever building the string. */
#include "sigv4.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_STACK_ITEMS 32
#define SIGV4_STS_MAX 320

typedef struct sigv4_sink {
    EVP_MD_CTX *md;  /* when set, bytes go to the digest */
    char *buf;       /* otherwise they are appended here, NUL-terminated */
    size_t len;
    size_t cap;
    int growable;    /* realloc buf when full; a fixed buffer fails instead */
    int failed;
} sigv4_sink;

typedef struct sigv4_segment {
    const char *p;
    size_t n;
} sigv4_segment;

typedef struct sigv4_param {
    const char *name;
    const char *value;
} sigv4_param;

static const char sigv4_hex_lower[] = "0123456789abcdef";
static const char sigv4_hex_upper[] = "0123456789ABCDEF";

/* ---- sink ---------------------------------------------------------------- */

static int sigv4_sink_grow(sigv4_sink *k, size_t n)
{
    size_t cap = k->cap ? k->cap : 256;
    char *buf;

    while (cap - k->len <= n) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    buf = realloc(k->buf, cap);
    if (!buf)
        return -1;
    k->buf = buf;
    k->cap = cap;
    return 0;
}

static void sigv4_put(sigv4_sink *k, const char *p, size_t n)
{
    if (k->failed || n == 0)
        return;
    if (k->md) {
        if (EVP_DigestUpdate(k->md, p, n) != 1)
            k->failed = 1;
        return;
    }
    /* ">=" keeps one byte for the terminating NUL */
    if (n >= k->cap - k->len && (!k->growable || sigv4_sink_grow(k, n) != 0)) {
        k->failed = 1;
        return;
    }
    memcpy(k->buf + k->len, p, n);
    k->len += n;
    k->buf[k->len] = '\0';
}

static void sigv4_put_str(sigv4_sink *k, const char *s)
{
    sigv4_put(k, s, strlen(s));
}

static void sigv4_putc(sigv4_sink *k, char c)
{
    sigv4_put(k, &c, 1);
}

/* ---- small helpers ------------------------------------------------------- */

static int sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int sigv4_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char sigv4_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int sigv4_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void sigv4_to_hex(const unsigned char *bin, size_t n, char *hex)
{
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = sigv4_hex_lower[bin[i] >> 4];
        hex[2 * i + 1] = sigv4_hex_lower[bin[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* Accepts exactly "YYYYMMDDTHHMMSSZ" and copies the YYYYMMDD part. */
static int sigv4_date_of(const char *amz_date, char date[9])
{
    if (!amz_date || strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z')
        return -1;
    for (size_t i = 0; i < 15; i++) {
        if (i != 8 && (amz_date[i] < '0' || amz_date[i] > '9'))
            return -1;
    }
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    return 0;
}

static int sigv4_copy(char *dst, size_t size, const char *src)
{
    size_t n;

    if (!src)
        return -1;
    n = strlen(src);
    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* ---- canonical URI ------------------------------------------------------- */

static void sigv4_put_encoded(sigv4_sink *k, const char *p, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char esc[3];

        if (sigv4_unreserved(c))
            continue;
        sigv4_put(k, p + run, i - run);
        esc[0] = '%';
        esc[1] = sigv4_hex_upper[c >> 4];
        esc[2] = sigv4_hex_upper[c & 15];
        sigv4_put(k, esc, 3);
        run = i + 1;
    }
    sigv4_put(k, p + run, n - run);
}

/* RFC 3986 remove_dot_segments on a segment stack; empty segments (duplicate
 * slashes) are dropped. A final "", "." or ".." segment leaves a trailing
 * slash, as in the RFC ("/a/b/.." -> "/a/"). */
static void sigv4_put_path(sigv4_sink *k, const char *path)
{
    sigv4_segment stack[SIGV4_STACK_ITEMS];
    sigv4_segment *segs = stack;
    size_t max = 1, kept = 0;
    int trailing = 0;
    const char *p = path ? path : "";

    for (const char *c = p; *c; c++)
        max += *c == '/';
    if (max > SIGV4_STACK_ITEMS) {
        segs = malloc(max * sizeof *segs);
        if (!segs) {
            k->failed = 1;
            return;
        }
    }
    for (;;) {
        size_t n = strcspn(p, "/");

        trailing = 1;
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (kept)
                kept--;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            segs[kept].p = p;
            segs[kept].n = n;
            kept++;
            trailing = 0;
        }
        if (!p[n])
            break;
        p += n + 1;
    }
    sigv4_putc(k, '/');
    for (size_t i = 0; i < kept; i++) {
        if (i)
            sigv4_putc(k, '/');
        sigv4_put_encoded(k, segs[i].p, segs[i].n);
    }
    if (kept && trailing)
        sigv4_putc(k, '/');
    if (segs != stack)
        free(segs);
}

/* ---- canonical query string ---------------------------------------------- */

/* Decodes valid %XX escapes first so that an already-encoded query and a raw
 * one give the same canonical form (what the service computes from the wire).
 * Writes at most 3 * n bytes plus a NUL; returns the bytes written plus one. */
static size_t sigv4_reencode(char *dst, const char *p, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '%' && i + 2 < n && sigv4_hexval(p[i + 1]) >= 0 && sigv4_hexval(p[i + 2]) >= 0) {
            c = (unsigned char)(sigv4_hexval(p[i + 1]) << 4 | sigv4_hexval(p[i + 2]));
            i += 2;
        }
        if (sigv4_unreserved(c)) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = sigv4_hex_upper[c >> 4];
            dst[o++] = sigv4_hex_upper[c & 15];
        }
    }
    dst[o] = '\0';
    return o + 1;
}

static int sigv4_param_cmp(const void *a, const void *b)
{
    const sigv4_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

/* Splits the query into params in an arena; returns the count or -1. */
static long sigv4_parse_query(const char *q, sigv4_param *params, char *arena)
{
    long n = 0;

    for (;;) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t name_len = eq ? (size_t)(eq - q) : len;

        if (len > 0) {
            params[n].name = arena;
            arena += sigv4_reencode(arena, q, name_len);
            params[n].value = arena;
            arena += sigv4_reencode(arena, eq ? eq + 1 : q + len, eq ? len - name_len - 1 : 0);
            n++;
        }
        if (!q[len])
            return n;
        q += len + 1;
    }
}

static void sigv4_put_query(sigv4_sink *k, const char *q)
{
    sigv4_param *params = NULL;
    char *arena = NULL;
    size_t len, count = 1;
    long n;

    if (!q || !*q)
        return;
    len = strlen(q);
    for (size_t i = 0; i < len; i++)
        count += q[i] == '&';
    if (len > (SIZE_MAX - 2 * count) / 3) {
        k->failed = 1;
        return;
    }
    params = malloc(count * sizeof *params);
    arena = malloc(3 * len + 2 * count);
    if (!params || !arena) {
        k->failed = 1;
        goto cleanup;
    }
    n = sigv4_parse_query(q, params, arena);
    qsort(params, (size_t)n, sizeof *params, sigv4_param_cmp);
    for (long i = 0; i < n; i++) {
        if (i)
            sigv4_putc(k, '&');
        sigv4_put_str(k, params[i].name);
        sigv4_putc(k, '=');
        sigv4_put_str(k, params[i].value);
    }
cleanup:
    free(params);
    free(arena);
}

/* ---- canonical headers --------------------------------------------------- */

static int sigv4_name_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)sigv4_lower(*a);
        unsigned char y = (unsigned char)sigv4_lower(*b);

        if (x != y || !x)
            return x - y;
    }
}

/* Indices of r->headers sorted by lower-case name. The sort is stable so
 * repeated headers keep their order, which is the order of their values.
 * Returns stack when it is large enough, else a malloc'd array (NULL on
 * allocation failure). */
static size_t *sigv4_header_order(const sigv4_request *r, size_t *stack, size_t stack_n)
{
    size_t *order = stack;

    if (r->header_count > stack_n) {
        order = malloc(r->header_count * sizeof *order);
        if (!order)
            return NULL;
    }
    for (size_t i = 0; i < r->header_count; i++) {
        size_t j = i;

        while (j > 0 && sigv4_name_cmp(r->headers[order[j - 1]].name, r->headers[i].name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return order;
}

static void sigv4_put_lower(sigv4_sink *k, const char *s)
{
    char chunk[64];
    size_t n = 0;

    for (; *s; s++) {
        chunk[n++] = sigv4_lower(*s);
        if (n == sizeof chunk) {
            sigv4_put(k, chunk, n);
            n = 0;
        }
    }
    sigv4_put(k, chunk, n);
}

/* Trims the value and folds each inner run of whitespace into one space. */
static void sigv4_put_value(sigv4_sink *k, const char *v)
{
    int first = 1;

    if (!v)
        return;
    for (;;) {
        const char *word;

        while (sigv4_space(*v))
            v++;
        if (!*v)
            return;
        word = v;
        while (*v && !sigv4_space(*v))
            v++;
        if (!first)
            sigv4_putc(k, ' ');
        sigv4_put(k, word, (size_t)(v - word));
        first = 0;
    }
}

static int sigv4_same_name(const sigv4_request *r, const size_t *order, size_t i)
{
    return i > 0 && sigv4_name_cmp(r->headers[order[i - 1]].name, r->headers[order[i]].name) == 0;
}

static void sigv4_put_canonical_headers(sigv4_sink *k, const sigv4_request *r, const size_t *order)
{
    for (size_t i = 0; i < r->header_count; i++) {
        const sigv4_header *h = &r->headers[order[i]];

        if (sigv4_same_name(r, order, i)) {
            sigv4_putc(k, ',');
        } else {
            if (i)
                sigv4_putc(k, '\n');
            sigv4_put_lower(k, h->name);
            sigv4_putc(k, ':');
        }
        sigv4_put_value(k, h->value);
    }
    if (r->header_count)
        sigv4_putc(k, '\n');
}

static void sigv4_put_signed_headers(sigv4_sink *k, const sigv4_request *r, const size_t *order)
{
    for (size_t i = 0; i < r->header_count; i++) {
        if (sigv4_same_name(r, order, i))
            continue;
        if (i)
            sigv4_putc(k, ';');
        sigv4_put_lower(k, r->headers[order[i]].name);
    }
}

/* Everything before the signed-headers line. */
static void sigv4_put_creq_head(sigv4_sink *k, const sigv4_request *r, const size_t *order)
{
    sigv4_put_str(k, r->method ? r->method : "");
    sigv4_putc(k, '\n');
    sigv4_put_path(k, r->path);
    sigv4_putc(k, '\n');
    sigv4_put_query(k, r->query);
    sigv4_putc(k, '\n');
    sigv4_put_canonical_headers(k, r, order);
    sigv4_putc(k, '\n');
}

/* ---- hashing and keys ---------------------------------------------------- */

static int sigv4_digest_hex(EVP_MD_CTX *md, const EVP_MD *sha256, const void *data, size_t len, char hex[65])
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_DigestInit_ex(md, sha256, NULL) != 1 || EVP_DigestUpdate(md, data, len) != 1 ||
        EVP_DigestFinal_ex(md, bin, &n) != 1 || n != 32)
        return -1;
    sigv4_to_hex(bin, n, hex);
    return 0;
}

static int sigv4_derive_key(const sigv4_signer *s, const char *date, unsigned char out[32])
{
    const char *parts[4] = {date, s->region, s->service, SIGV4_TERMINATOR};
    unsigned char seed[4 + sizeof s->secret_key];
    unsigned char k[2][32];
    const unsigned char *key = seed;
    size_t secret_len = strlen(s->secret_key);
    int key_len = (int)(4 + secret_len);
    int rc = 0;

    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, s->secret_key, secret_len);
    for (size_t i = 0; i < 4; i++) {
        /* alternate buffers: the output must not overwrite the key being used */
        unsigned char *dst = k[i & 1];
        unsigned int n = 0;

        if (!HMAC(EVP_sha256(), key, key_len, (const unsigned char *)parts[i], strlen(parts[i]),
                  dst, &n) || n != 32) {
            rc = -1;
            break;
        }
        key = dst;
        key_len = 32;
    }
    if (rc == 0)
        memcpy(out, key, 32);
    OPENSSL_cleanse(seed, sizeof seed);
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}

static int sigv4_signing_key(sigv4_signer *s, const char date[9])
{
    unsigned char key[32];

    if (strcmp(s->key_date, date) == 0)
        return 0;
    if (sigv4_derive_key(s, date, key) != 0)
        return -1;
    memcpy(s->key, key, sizeof key);
    memcpy(s->key_date, date, 9);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
}

static void sigv4_put_scope(sigv4_sink *k, const sigv4_signer *s, const char *date)
{
    sigv4_put_str(k, date);
    sigv4_putc(k, '/');
    sigv4_put_str(k, s->region);
    sigv4_putc(k, '/');
    sigv4_put_str(k, s->service);
    sigv4_put_str(k, "/" SIGV4_TERMINATOR);
}

/* Writes the string to sign into buf; returns its length, or 0 when it does
 * not fit. */
static size_t sigv4_format_sts(const sigv4_signer *s, const char *amz_date, const char *date,
                               const char creq_hex[65], char *buf, size_t size)
{
    sigv4_sink k = {.buf = buf, .cap = size};

    sigv4_put_str(&k, SIGV4_ALGORITHM "\n");
    sigv4_put_str(&k, amz_date);
    sigv4_putc(&k, '\n');
    sigv4_put_scope(&k, s, date);
    sigv4_putc(&k, '\n');
    sigv4_put(&k, creq_hex, 64);
    return k.failed ? 0 : k.len;
}

static void sigv4_free_tools(sigv4_signer *s)
{
    EVP_MD_CTX_free(s->digest);
    EVP_MAC_CTX_free(s->hmac);
    EVP_MD_free(s->sha256);
    EVP_MAC_free(s->mac);
    s->digest = NULL;
    s->hmac = NULL;
    s->sha256 = NULL;
    s->mac = NULL;
}

/* The algorithms and contexts the hot path uses, made on first use and kept:
 * OpenSSL 3's one-shot calls look the algorithm up (under a lock) and build
 * a context on every call. */
static int sigv4_tools(sigv4_signer *s)
{
    char digest_name[] = "SHA256";
    OSSL_PARAM params[2];

    if (s->digest)
        return 0;
    s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    s->digest = EVP_MD_CTX_new();
    s->hmac = s->mac ? EVP_MAC_CTX_new(s->mac) : NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!s->sha256 || !s->digest || !s->hmac || EVP_MAC_CTX_set_params(s->hmac, params) != 1) {
        sigv4_free_tools(s);
        return -1;
    }
    return 0;
}

/* HMAC-SHA256 of data under the cached signing key. */
static int sigv4_sign(sigv4_signer *s, const char *data, size_t len, unsigned char mac[32])
{
    size_t n = 0;

    if (EVP_MAC_init(s->hmac, s->key, sizeof s->key, NULL) != 1 ||
        EVP_MAC_update(s->hmac, (const unsigned char *)data, len) != 1 ||
        EVP_MAC_final(s->hmac, mac, &n, 32) != 1 || n != 32)
        return -1;
    return 0;
}

/* ---- public API ---------------------------------------------------------- */

int sigv4_signer_init(sigv4_signer *s, const char *access_key, const char *secret_key,
                      const char *region, const char *service)
{
    memset(s, 0, sizeof *s);
    if (sigv4_copy(s->access_key, sizeof s->access_key, access_key) != 0 ||
        sigv4_copy(s->secret_key, sizeof s->secret_key, secret_key) != 0 ||
        sigv4_copy(s->region, sizeof s->region, region) != 0 ||
        sigv4_copy(s->service, sizeof s->service, service) != 0) {
        sigv4_signer_clear(s);
        return -1;
    }
    return 0;
}

void sigv4_signer_clear(sigv4_signer *s)
{
    sigv4_free_tools(s);
    OPENSSL_cleanse(s, sizeof *s);
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(len ? data : "", len, bin, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        hex[0] = '\0';
        return;
    }
    sigv4_to_hex(bin, n, hex);
}

char *sigv4_canonical_request(const sigv4_request *r, char **signed_headers)
{
    size_t stack[SIGV4_STACK_ITEMS];
    size_t *order;
    sigv4_sink creq = {.growable = 1};
    sigv4_sink sh = {.growable = 1};
    char payload_hex[65];

    if (signed_headers)
        *signed_headers = NULL;
    order = sigv4_header_order(r, stack, SIGV4_STACK_ITEMS);
    if (!order)
        return NULL;
    sigv4_sha256_hex(r->payload, r->payload_len, payload_hex);
    sigv4_put_creq_head(&creq, r, order);
    sigv4_put_signed_headers(&sh, r, order);
    sigv4_put(&creq, sh.buf, sh.len);
    sigv4_putc(&creq, '\n');
    sigv4_put_str(&creq, payload_hex);
    /* an empty list never allocated, but callers still get a string */
    if (!sh.buf && !sh.failed) {
        if (sigv4_sink_grow(&sh, 0) == 0)
            sh.buf[0] = '\0';
        else
            sh.failed = 1;
    }
    if (order != stack)
        free(order);
    if (creq.failed || sh.failed || payload_hex[0] == '\0') {
        free(creq.buf);
        free(sh.buf);
        return NULL;
    }
    if (signed_headers)
        *signed_headers = sh.buf;
    else
        free(sh.buf);
    return creq.buf;
}

char *sigv4_string_to_sign(const sigv4_signer *s, const char *amz_date,
                           const char *canonical_request)
{
    char date[9], creq_hex[65];
    char *sts;

    if (sigv4_date_of(amz_date, date) != 0 || !canonical_request)
        return NULL;
    sigv4_sha256_hex(canonical_request, strlen(canonical_request), creq_hex);
    if (creq_hex[0] == '\0')
        return NULL;
    sts = malloc(SIGV4_STS_MAX);
    if (!sts)
        return NULL;
    if (sigv4_format_sts(s, amz_date, date, creq_hex, sts, SIGV4_STS_MAX) == 0) {
        free(sts);
        return NULL;
    }
    return sts;
}

/* The header value is laid out in out first, up to "Signature=", so that the
 * signed-headers list written there can be fed to the digest as the
 * canonical request's signed-headers line. */
int sigv4_authorization(sigv4_signer *s, const sigv4_request *r, char *out, size_t out_size)
{
    size_t stack[SIGV4_STACK_ITEMS];
    size_t *order = NULL;
    sigv4_sink o = {.buf = out, .cap = out_size};
    sigv4_sink d = {0};
    char date[9], payload_hex[65], creq_hex[65], sig_hex[65], sts[SIGV4_STS_MAX];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t sh_start, sh_end, sts_len;
    int rc = -1;

    if (out_size)
        out[0] = '\0';
    if (sigv4_date_of(r->amz_date, date) != 0 || sigv4_signing_key(s, date) != 0 || sigv4_tools(s) != 0)
        return -1;
    order = sigv4_header_order(r, stack, SIGV4_STACK_ITEMS);
    d.md = s->digest;
    if (!order)
        goto cleanup;

    sigv4_put_str(&o, SIGV4_ALGORITHM " Credential=");
    sigv4_put_str(&o, s->access_key);
    sigv4_putc(&o, '/');
    sigv4_put_scope(&o, s, date);
    sigv4_put_str(&o, ", SignedHeaders=");
    sh_start = o.len;
    sigv4_put_signed_headers(&o, r, order);
    sh_end = o.len;
    sigv4_put_str(&o, ", Signature=");
    if (o.failed)
        goto cleanup;

    if (sigv4_digest_hex(d.md, s->sha256, r->payload_len ? r->payload : "", r->payload_len, payload_hex) != 0 ||
        EVP_DigestInit_ex(d.md, s->sha256, NULL) != 1)
        goto cleanup;
    sigv4_put_creq_head(&d, r, order);
    sigv4_put(&d, out + sh_start, sh_end - sh_start);
    sigv4_putc(&d, '\n');
    sigv4_put(&d, payload_hex, 64);
    if (d.failed || EVP_DigestFinal_ex(d.md, mac, &mac_len) != 1 || mac_len != 32)
        goto cleanup;
    sigv4_to_hex(mac, mac_len, creq_hex);

    sts_len = sigv4_format_sts(s, r->amz_date, date, creq_hex, sts, sizeof sts);
    if (sts_len == 0 || sigv4_sign(s, sts, sts_len, mac) != 0)
        goto cleanup;
    sigv4_to_hex(mac, 32, sig_hex);
    sigv4_put(&o, sig_hex, 64);
    rc = o.failed ? -1 : 0;

cleanup:
    if (rc != 0 && out_size)
        out[0] = '\0';
    if (order != stack)
        free(order);
    return rc;
}

void sigv4_amz_date(long long t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        out[0] = '\0';
}
