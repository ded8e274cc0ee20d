/* libFuzzer target: the input as an STS answer body for sts_parse_answer,
 * with status 200 and 403. Success must give terminated, non-empty keys and
 * an expiry; failure must give a terminated message starting with "STS ".
 * Also included by tests/test_fuzz_regressions.c, hence the fst_ prefix. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fst_check(const uint8_t *data, size_t size, long status)
{
    creds_value v;
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = sts_parse_answer((const char *)data, size, status, &v, err, sizeof err);
    if (rc == 0) {
        if (status != 200 || !memchr(v.access_key, '\0', sizeof v.access_key) || !v.access_key[0] ||
            !memchr(v.session_token, '\0', sizeof v.session_token) || !v.secret_key[0] || !v.expiration_ms) {
            fprintf(stderr, "fuzz_sts: accepted an answer without usable credentials (status %ld)\n", status);
            abort();
        }
        creds_value_clear(&v);
    } else if (rc != -1 || !memchr(err, '\0', sizeof err) || strncmp(err, "STS ", 4) != 0) {
        fprintf(stderr, "fuzz_sts: rc %d, error \"%.*s\"\n", rc, (int)sizeof err, err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fst_check(data, size, 200);
    fst_check(data, size, 403);
    return 0;
}
