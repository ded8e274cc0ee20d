/* AWS Signature Version 4 for JSON POST requests (and the generic pieces the
 * published test suite exercises). No Lua, no global state: a sigv4_signer
 * owns its credentials and a cached signing key. */
#ifndef DDBRUN_SIGV4_H
#define DDBRUN_SIGV4_H

#include <stddef.h>

typedef struct sigv4_header {
    const char *name;   /* any case; canonicalised to lower case */
    const char *value;  /* trimmed, inner runs of spaces folded */
} sigv4_header;

typedef struct sigv4_request {
    const char *method;        /* "POST" */
    const char *path;          /* "/" ; unencoded; dot segments and duplicate
                                  slashes removed, each segment encoded once */
    const char *query;         /* query string without '?', may be NULL; %XX
                                  escapes are decoded, then re-encoded */
    const sigv4_header *headers;
    size_t header_count;
    const char *payload;
    size_t payload_len;
    const char *amz_date;      /* "20150830T123600Z" */
} sigv4_request;

/* sigv4_authorization updates the cached key: one signer per thread. */
typedef struct sigv4_signer {
    char access_key[128];
    char secret_key[128];
    char region[64];
    char service[64];
    char key_date[9];          /* yyyymmdd the cached key is for, "" when none */
    unsigned char key[32];     /* kSigning for key_date */
    /* OpenSSL objects made on first use and kept (freed by sigv4_signer_clear) */
    struct evp_md_st *sha256;
    struct evp_mac_st *mac;
    struct evp_md_ctx_st *digest;
    struct evp_mac_ctx_st *hmac;
} sigv4_signer;

/* Copies the strings into *s; returns 0, or -1 (and *s wiped) when one is NULL
 * or does not fit. *s is overwritten: call sigv4_signer_clear on a signer
 * that has signed before initialising it again (it keeps OpenSSL objects). */
int sigv4_signer_init(sigv4_signer *s, const char *access_key, const char *secret_key,
                      const char *region, const char *service);
/* Frees the kept OpenSSL objects and wipes all of *s, the secret and the
 * cached key included. */
void sigv4_signer_clear(sigv4_signer *s);

/* Writes lowercase hex SHA-256 of data (65 bytes incl. NUL) into hex; hex is
 * "" if OpenSSL fails. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

/* The canonical request as defined by SigV4; the result is malloc'd and owned
 * by the caller (NULL on allocation failure). signed_headers, when not NULL,
 * receives the malloc'd "host;x-amz-date" list. */
char *sigv4_canonical_request(const sigv4_request *r, char **signed_headers);

/* The string to sign for a canonical request; malloc'd, owned by the caller.
 * NULL on allocation failure or when amz_date is not "YYYYMMDDTHHMMSSZ". */
char *sigv4_string_to_sign(const sigv4_signer *s, const char *amz_date,
                           const char *canonical_request);

/* Fills the Authorization header value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...") into out. Derives the signing key only
 * when the date changed since the last call. Returns 0, or -1 (out set to "")
 * on allocation failure, a malformed amz_date, or when out is too small. */
int sigv4_authorization(sigv4_signer *s, const sigv4_request *r, char *out, size_t out_size);

/* Formats t (seconds since the epoch, UTC) as "YYYYMMDDTHHMMSSZ"; out is ""
 * when t is out of range. */
void sigv4_amz_date(long long t, char out[17]);

#endif
