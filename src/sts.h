/* STS over the Query protocol (a form POST, an XML answer read with expat):
 * AssumeRole, SigV4-signed with the source credentials (service "sts"), and
 * AssumeRoleWithWebIdentity, unsigned. Endpoint: AWS_ENDPOINT_URL_STS, else
 * AWS_ENDPOINT_URL, else the regional one (see endpoints.h). */
#ifndef DDBRUN_STS_H
#define DDBRUN_STS_H

#include <stddef.h>

#include "creds.h"

typedef struct sts_role {
    const char *role_arn;
    const char *session_name;   /* NULL: "ddbrun-<unix ms>" */
    const char *external_id;    /* NULL: none */
    long duration_s;            /* 0: STS's default (1 hour) */
} sts_role;

/* The endpoint URL for e. Returns 0, or -1 with err. */
int sts_endpoint(const creds_env *e, char *out, size_t size, char *err, size_t errlen);

/* Signs with the clock of s (wall clock + s->clock_offset_ms). When STS
 * refuses the signature as expired or not yet current, takes the offset from
 * the answer's Date into s and sends once more, as the SDKs do. Returns 0, or
 * -1 with err ("STS AccessDenied: ... (HTTP 403)"), never a secret. */
int sts_assume_role(const creds_env *e, creds_session *s, const creds_value *source, const sts_role *role, creds_value *out,
                    char *err, size_t errlen);

/* Reads the token from token_file now (it rotates). Returns 0, or -1 with err. */
int sts_assume_role_with_web_identity(const creds_env *e, const sts_role *role, const char *token_file,
                                      creds_value *out, char *err, size_t errlen);

/* Parses an STS answer body: the credentials, or the error's Code and
 * Message. Returns 0 with *out, or -1 with err. Exposed for the tests. */
int sts_parse_answer(const char *xml, size_t len, long status, creds_value *out, char *err, size_t errlen);

#endif
