/* libFuzzer target: a SigV4 request split out of the input (see fs_split),
 * run through sigv4_canonical_request, sigv4_string_to_sign and
 * sigv4_authorization. Beyond memory safety, the two ways of signing must
 * agree: the Authorization header (which hashes the canonical request without
 * building it) must carry the signed headers of sigv4_canonical_request and
 * the HMAC of sigv4_string_to_sign's text under the signer's key. Also
 * included by tests/test_fuzz_regressions.c, hence the fs_ prefix. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sigv4.h"

#define FS_MAX_HEADERS 40   /* more than sigv4.c keeps on its stack (32) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sigv4_signer fs_signer;
static int fs_signer_ready;

/* The input: a flags byte, a payload length byte, then NUL-separated fields
 * method, path, query, amz_date, and name/value pairs; the payload is the
 * last (length byte) bytes, NULs included. flags: bit 0 query NULL, bit 1
 * path NULL, bit 2 method NULL, bit 3 amz_date made valid from its digits,
 * bits 4-5 the size of the Authorization buffer (exact, 16, 128 or 1024). */
typedef struct {
    char *fields;           /* copy of the field bytes, each field NUL-terminated */
    const char *field[4 + 2 * FS_MAX_HEADERS];
    size_t nfield;
    char date[17];
    sigv4_header headers[FS_MAX_HEADERS];
    sigv4_request r;
    unsigned flags;
} fs_case;

static void fs_split(fs_case *c, const uint8_t *data, size_t size)
{
    size_t payload_len = 0, flen;

    memset(c, 0, sizeof *c);
    c->flags = size > 0 ? data[0] : 0;
    if (size > 1) payload_len = data[1];
    data += size > 2 ? 2 : size;
    size -= size > 2 ? 2 : size;
    if (payload_len > size) payload_len = size;
    flen = size - payload_len;
    c->fields = malloc(flen + 1);
    if (!c->fields) abort();
    memcpy(c->fields, data, flen);
    c->fields[flen] = '\0';
    for (size_t start = 0; start <= flen && c->nfield < sizeof c->field / sizeof c->field[0];) {
        size_t n = strlen(c->fields + start);
        c->field[c->nfield++] = c->fields + start;
        start += n + 1;
    }
    c->r.payload = payload_len ? (const char *)data + flen : NULL;
    c->r.payload_len = payload_len;
    c->r.method = c->flags & 4 ? NULL : c->nfield > 0 ? c->field[0] : "POST";
    c->r.path = c->flags & 2 ? NULL : c->nfield > 1 ? c->field[1] : "/";
    c->r.query = c->flags & 1 ? NULL : c->nfield > 2 ? c->field[2] : NULL;
    c->r.amz_date = c->nfield > 3 ? c->field[3] : "20150830T123600Z";
    if (c->flags & 8) {
        /* digits from the field, so that the date is valid but varies */
        const char *f = c->r.amz_date;
        size_t fl = strlen(f);
        for (size_t i = 0; i < 16; i++) c->date[i] = (char)('0' + (i < fl ? (unsigned char)f[i] : 0) % 10);
        c->date[8] = 'T';
        c->date[15] = 'Z';
        c->date[16] = '\0';
        c->r.amz_date = c->date;
    }
    for (size_t i = 4; i + 1 < c->nfield + 1 && c->r.header_count < FS_MAX_HEADERS; i += 2) {
        c->headers[c->r.header_count].name = c->field[i];
        c->headers[c->r.header_count].value = i + 1 < c->nfield ? c->field[i + 1] : NULL;
        c->r.header_count++;
    }
    c->r.headers = c->r.header_count ? c->headers : NULL;
}

static void fs_fail(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_sigv4: %s\n  %s\n  %s\n", what, a ? a : "(null)", b ? b : "(null)");
    abort();
}

static void fs_check(const fs_case *c, const char *authz, const char *creq, const char *signed_headers)
{
    char *sts = sigv4_string_to_sign(&fs_signer, c->r.amz_date, creq);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char hex[65], *want;
    const char *sh, *sig;
    size_t want_len;

    if (!sts) fs_fail("sigv4_string_to_sign failed where sigv4_authorization did not", c->r.amz_date, creq);
    if (!HMAC(EVP_sha256(), fs_signer.key, (int)sizeof fs_signer.key, (const unsigned char *)sts, strlen(sts),
              mac, &mac_len) || mac_len != 32)
        abort();
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    if (strlen(authz) < 64 + 10) fs_fail("Authorization too short", authz, "");
    sh = strstr(authz, ", SignedHeaders=");
    sig = authz + strlen(authz) - 64;
    if (!sh || sig - 10 < sh || strncmp(sig - 10, "Signature=", 10) != 0)
        fs_fail("Authorization has no SignedHeaders/Signature", authz, "");
    sh += strlen(", SignedHeaders=");
    want_len = strlen(signed_headers) + strlen(", Signature=");
    want = malloc(want_len + 1);
    if (!want) abort();
    snprintf(want, want_len + 1, "%s, Signature=", signed_headers);
    if ((size_t)(sig - sh) != want_len || memcmp(sh, want, want_len) != 0)
        fs_fail("signed headers differ", authz, signed_headers);
    if (strcmp(sig, hex) != 0) fs_fail("signature differs from HMAC(string to sign)", authz, sts);
    free(want);
    free(sts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t out_sizes[] = {0, 16, 128, 1024};
    fs_case c;
    char *creq, *signed_headers = NULL, *out;
    size_t out_size;
    int rc;

    if (!fs_signer_ready) {
        if (sigv4_signer_init(&fs_signer, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                              "us-east-1", "dynamodb") != 0)
            abort();
        fs_signer_ready = 1;
    }
    fs_split(&c, data, size);
    creq = sigv4_canonical_request(&c.r, &signed_headers);
    if (!creq || !signed_headers) abort();   /* only allocation failure may fail */

    out_size = out_sizes[c.flags >> 4 & 3];
    if (out_size == 0) out_size = 1 + strlen(creq) % 400;
    out = malloc(out_size);   /* exact size: an overrun is caught */
    if (!out) abort();
    rc = sigv4_authorization(&fs_signer, &c.r, out, out_size);
    if (rc != 0 && rc != -1) abort();
    if (!memchr(out, '\0', out_size)) fs_fail("Authorization not terminated", "", "");
    if (rc == -1 && out[0] != '\0') fs_fail("failed but out is not empty", out, "");
    if (rc == 0) fs_check(&c, out, creq, signed_headers);
    else free(sigv4_string_to_sign(&fs_signer, c.r.amz_date, creq));
    free(out);
    free(creq);
    free(signed_headers);
    free(c.fields);
    return 0;
}
