#include "imds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "creds_http.h"

#define IMDS_TOKEN_TTL_S "21600"
/* A token is not reused in the last minute of its TTL. */
#define IMDS_TOKEN_REUSE_MS ((21600 - 60) * 1000LL)
#define IMDS_ROLE_PATH "/latest/meta-data/iam/security-credentials/"

typedef struct imds_session {
    char endpoint[512];
    long timeout_ms;
    char token_header[300];   /* "x-aws-ec2-metadata-token: ...", "" for IMDSv1 */
    int refused_token;        /* a request with the token got 401 */
} imds_session;

void imds_endpoint(const creds_env *e, char *out, size_t size)
{
    const char *endpoint = creds_env_get(e, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = creds_env_get(e, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (!endpoint) endpoint = mode && strcasecmp(mode, "IPv6") == 0 ? "http://[fd00:ec2::254]" : "http://169.254.169.254";
    snprintf(out, size, "%s", endpoint);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/') out[--n] = '\0';
}

static long imds_timeout_ms(const creds_env *e)
{
    const char *v = creds_env_get(e, "AWS_METADATA_SERVICE_TIMEOUT");
    char *end;
    double s = v ? strtod(v, &end) : 1;
    return v && (end == v || *end || !(s > 0 && s <= 60)) ? 1000 : (long)(s * 1000);
}

/* One request to path, sent once more after a transient failure (connection
 * refused or reset, 5xx) but not after a timeout, so that a machine without
 * IMDS still fails within one timeout. 0 with *resp, or -1 with err. */
static int imds_request(const imds_session *s, const char *method, const char *path, const char *header,
                        creds_http_response *resp, char *err, size_t errlen)
{
    char url[1024], cause[400];
    snprintf(url, sizeof url, "%s%s", s->endpoint, path);
    const char *headers[1] = { header };
    creds_http_request r = { method, url, headers, header && *header ? 1 : 0, NULL, s->timeout_ms, 1, NULL };
    for (int attempt = 1;; attempt++) {
        int rc = creds_http_send(&r, resp, cause, sizeof cause);
        if (rc == 0 && (resp->status < 500 || attempt == 2)) return 0;
        if (rc != 0 && (resp->timed_out || attempt == 2)) break;
        if (rc == 0) creds_http_response_free(resp);
    }
    snprintf(err, errlen, "no answer from %s (%s); set AWS_EC2_METADATA_DISABLED=true when not on EC2",
             s->endpoint, cause);
    return -1;
}

static int imds_token_fresh(const creds_session *cs)
{
    return cs->imds_token[0] && creds_monotonic_ms() < cs->imds_token_until_ms;
}

/* IMDSv2's session token, the one kept in cs while it is fresh, else a new
 * one (kept); falls back to IMDSv1 (token_header "") when the service refuses
 * tokens and v1 is allowed. */
static int imds_token(const creds_env *e, creds_session *cs, imds_session *s, char *err, size_t errlen)
{
    if (imds_token_fresh(cs)) {
        snprintf(s->token_header, sizeof s->token_header, "x-aws-ec2-metadata-token: %s", cs->imds_token);
        return 0;
    }
    creds_http_response resp;
    if (imds_request(s, "PUT", "/latest/api/token", "x-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL_S,
                     &resp, err, errlen) != 0)
        return -1;
    int rc = 0;
    if (resp.status == 200 && resp.len > 0 && resp.len < sizeof cs->imds_token && !strpbrk(resp.body, "\r\n")) {
        snprintf(s->token_header, sizeof s->token_header, "x-aws-ec2-metadata-token: %s", resp.body);
        snprintf(cs->imds_token, sizeof cs->imds_token, "%s", resp.body);
        cs->imds_token_until_ms = creds_monotonic_ms() + IMDS_TOKEN_REUSE_MS;
    } else if ((resp.status == 403 || resp.status == 404 || resp.status == 405) &&
               !creds_env_true(e, "AWS_EC2_METADATA_V1_DISABLED")) {
        s->token_header[0] = '\0';
    } else if (resp.status == 200) {
        snprintf(err, errlen, "session token: the answer is not a token");
        rc = -1;
    } else {
        int refused = resp.status == 403 || resp.status == 404 || resp.status == 405;
        snprintf(err, errlen, "session token: HTTP %ld%s", resp.status,
                 refused ? " (IMDSv1 is disabled by AWS_EC2_METADATA_V1_DISABLED)" : "");
        rc = -1;
    }
    creds_http_response_free(&resp);
    return rc;
}

static int imds_role(imds_session *s, char *role, size_t size, char *err, size_t errlen)
{
    creds_http_response resp;
    if (imds_request(s, "GET", IMDS_ROLE_PATH, s->token_header, &resp, err, errlen) != 0) return -1;
    int rc = -1;
    size_t n = resp.status == 200 ? strcspn(resp.body, "\r\n") : 0;
    s->refused_token = resp.status == 401 && s->token_header[0];
    if (resp.status == 404)
        snprintf(err, errlen, "no IAM role is attached to this instance (HTTP 404)");
    else if (resp.status != 200)
        snprintf(err, errlen, "role name: HTTP %ld", resp.status);
    else if (n == 0 || n >= size || strcspn(resp.body, " /?#%") < n)
        snprintf(err, errlen, "role name: the answer is not a role name");
    else {
        memcpy(role, resp.body, n);
        role[n] = '\0';
        rc = 0;
    }
    creds_http_response_free(&resp);
    return rc;
}

static int imds_credentials(imds_session *s, const char *role, creds_value *out, char *err, size_t errlen)
{
    char path[512], why[200];
    snprintf(path, sizeof path, IMDS_ROLE_PATH "%s", role);
    creds_http_response resp;
    if (imds_request(s, "GET", path, s->token_header, &resp, err, errlen) != 0) return -1;
    int rc = -1;
    json_t *doc = resp.status == 200 ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(doc, "Code"));
    s->refused_token = resp.status == 401 && s->token_header[0];
    if (resp.status != 200)
        snprintf(err, errlen, "role %s: HTTP %ld", role, resp.status);
    else if (!doc)
        snprintf(err, errlen, "role %s: the answer is not JSON", role);
    else if (code && strcmp(code, "Success") != 0)
        snprintf(err, errlen, "role %s: Code %.64s", role, code);
    else if (creds_from_json(doc, "Token", out, why, sizeof why) != 0)
        snprintf(err, errlen, "role %s: %s", role, why);
    else
        rc = 0;
    json_decref(doc);
    creds_http_response_free(&resp);
    return rc;
}

static int imds_fetch_once(const creds_env *e, creds_session *cs, imds_session *s, creds_value *out,
                           char *role, size_t role_size, char *err, size_t errlen)
{
    role[0] = '\0';
    return imds_token(e, cs, s, err, errlen) == 0 && imds_role(s, role, role_size, err, errlen) == 0 &&
           imds_credentials(s, role, out, err, errlen) == 0 ? 0 : -1;
}

int imds_fetch(const creds_env *e, creds_session *cs, creds_value *out, char *role, size_t role_size,
               char *err, size_t errlen)
{
    imds_session s;
    memset(&s, 0, sizeof s);
    imds_endpoint(e, s.endpoint, sizeof s.endpoint);
    s.timeout_ms = imds_timeout_ms(e);
    int reused = imds_token_fresh(cs);
    int rc = imds_fetch_once(e, cs, &s, out, role, role_size, err, errlen);
    if (rc != 0 && s.refused_token) {
        OPENSSL_cleanse(cs->imds_token, sizeof cs->imds_token);   /* expired or revoked: a new one */
        if (reused) rc = imds_fetch_once(e, cs, &s, out, role, role_size, err, errlen);
    }
    OPENSSL_cleanse(s.token_header, sizeof s.token_header);
    return rc;
}
