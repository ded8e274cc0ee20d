#include "sts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <expat.h>
#include <openssl/crypto.h>

#include "creds_http.h"
#include "endpoints.h"
#include "sigv4.h"

#define STS_TIMEOUT_MS 10000
#define STS_FORM_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* The leaf elements we keep from an answer. */
enum { STS_KEY, STS_SECRET, STS_TOKEN, STS_EXPIRATION, STS_CODE, STS_MESSAGE, STS_FIELDS };
static const char *const STS_FIELD_NAMES[STS_FIELDS] = {
    "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Code", "Message"
};

typedef struct sts_parse {
    char text[CREDS_TOKEN_SIZE];   /* the current element's text */
    size_t len;
    int overflow;
    char *fields[STS_FIELDS];      /* malloc'd copies */
} sts_parse;

static void XMLCALL sts_on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)name;
    (void)attrs;
    sts_parse *p = ud;
    p->len = 0;
    p->overflow = 0;
}

static void XMLCALL sts_on_text(void *ud, const XML_Char *s, int len)
{
    sts_parse *p = ud;
    if (p->len + (size_t)len >= sizeof p->text) {
        p->overflow = 1;
        return;
    }
    memcpy(p->text + p->len, s, (size_t)len);
    p->len += (size_t)len;
}

static void XMLCALL sts_on_end(void *ud, const XML_Char *name)
{
    sts_parse *p = ud;
    for (int i = 0; i < STS_FIELDS; i++) {
        if (strcmp(name, STS_FIELD_NAMES[i]) != 0 || p->overflow || p->fields[i]) continue;
        p->text[p->len] = '\0';
        p->fields[i] = strdup(p->text);
    }
    p->len = 0;
}

static void sts_parse_free(sts_parse *p)
{
    for (int i = 0; i < STS_FIELDS; i++) {
        if (p->fields[i]) OPENSSL_cleanse(p->fields[i], strlen(p->fields[i]));
        free(p->fields[i]);
    }
    OPENSSL_cleanse(p->text, sizeof p->text);
}

static int sts_copy(char *dst, size_t size, const char *v)
{
    if (!v || !*v || strlen(v) >= size) return -1;
    strcpy(dst, v);
    return 0;
}

static int sts_fill(sts_parse *p, long status, creds_value *out, char *err, size_t errlen)
{
    char **f = p->fields;
    if (status != 200 || f[STS_CODE]) {
        snprintf(err, errlen, "STS %s: %s (HTTP %ld)", f[STS_CODE] ? f[STS_CODE] : "error",
                 f[STS_MESSAGE] ? f[STS_MESSAGE] : "no message", status);
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (sts_copy(out->access_key, sizeof out->access_key, f[STS_KEY]) ||
        sts_copy(out->secret_key, sizeof out->secret_key, f[STS_SECRET]) ||
        sts_copy(out->session_token, sizeof out->session_token, f[STS_TOKEN]) ||
        creds_parse_time(f[STS_EXPIRATION], &out->expiration_ms) != 0) {
        creds_value_clear(out);
        snprintf(err, errlen, "STS answered without usable Credentials");
        return -1;
    }
    return 0;
}

int sts_parse_answer(const char *xml, size_t len, long status, creds_value *out, char *err, size_t errlen)
{
    sts_parse *p = calloc(1, sizeof *p);
    XML_Parser parser = XML_ParserCreate("UTF-8");
    int rc = -1;
    if (!p || !parser) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    XML_SetUserData(parser, p);
    XML_SetElementHandler(parser, sts_on_start, sts_on_end);
    XML_SetCharacterDataHandler(parser, sts_on_text);
    if (XML_Parse(parser, xml, (int)len, 1) != XML_STATUS_OK) {
        snprintf(err, errlen, "STS answered HTTP %ld with a body that is not XML (%s at line %lu)", status,
                 XML_ErrorString(XML_GetErrorCode(parser)), (unsigned long)XML_GetCurrentLineNumber(parser));
        goto cleanup;
    }
    rc = sts_fill(p, status, out, err, errlen);
cleanup:
    if (parser) XML_ParserFree(parser);
    if (p) sts_parse_free(p);
    free(p);
    return rc;
}

int sts_endpoint(const creds_env *e, char *out, size_t size, char *err, size_t errlen)
{
    const char *v = creds_env_get(e, "AWS_ENDPOINT_URL_STS");
    if (!v) v = creds_env_get(e, "AWS_ENDPOINT_URL");
    if (v) {
        snprintf(out, size, "%s", v);
        return 0;
    }
    int fips, dualstack;
    if (endpoints_flag("AWS_USE_FIPS_ENDPOINT", creds_env_get(e, "AWS_USE_FIPS_ENDPOINT"), &fips, err, errlen) ||
        endpoints_flag("AWS_USE_DUALSTACK_ENDPOINT", creds_env_get(e, "AWS_USE_DUALSTACK_ENDPOINT"), &dualstack, err, errlen))
        return -1;
    const char *region = creds_env_get(e, "ddbrun.region");
    return endpoints_resolve("sts", region ? region : "us-east-1", fips, dualstack, out, size, err, errlen);
}

/* Appends "&name=value" (value form-encoded) to the body. */
static int sts_form_add(char **body, const char *name, const char *value)
{
    char *escaped = curl_easy_escape(NULL, value, 0);
    if (!escaped) return -1;
    size_t old = *body ? strlen(*body) : 0, add = strlen(name) + strlen(escaped) + 3;
    char *bigger = malloc(old + add);
    if (bigger) {
        snprintf(bigger, old + add, "%s%s%s=%s", old ? *body : "", old ? "&" : "", name, escaped);
        if (*body) OPENSSL_cleanse(*body, old);
        free(*body);
        *body = bigger;
    }
    OPENSSL_cleanse(escaped, strlen(escaped));
    curl_free(escaped);
    return bigger ? 0 : -1;
}

static char *sts_form(const char *action, const sts_role *role, const char *web_token)
{
    char session[64], duration[32];
    snprintf(session, sizeof session, "ddbrun-%lld", creds_wall_ms());
    snprintf(duration, sizeof duration, "%ld", role->duration_s);
    char *body = NULL;
    int failed = sts_form_add(&body, "Action", action) || sts_form_add(&body, "Version", "2011-06-15") ||
                 sts_form_add(&body, "RoleArn", role->role_arn) ||
                 sts_form_add(&body, "RoleSessionName", role->session_name ? role->session_name : session) ||
                 (role->duration_s && sts_form_add(&body, "DurationSeconds", duration)) ||
                 (role->external_id && sts_form_add(&body, "ExternalId", role->external_id)) ||
                 (web_token && sts_form_add(&body, "WebIdentityToken", web_token));
    if (failed && body) {
        OPENSSL_cleanse(body, strlen(body));
        free(body);
        body = NULL;
    }
    return body;
}

/* The signed header lines of an AssumeRole request, into lines/bufs. */
static int sts_sign(const creds_env *e, const creds_value *source, long long now_ms, const char *url, const char *body,
                    char bufs[4][CREDS_TOKEN_SIZE + 64], const char **lines, size_t *n)
{
    char host[320], path[512], amz_date[17], auth[512];
    if (endpoints_url_parts(url, host, sizeof host, path, sizeof path) != 0) return -1;
    sigv4_amz_date(now_ms / 1000, amz_date);
    sigv4_header headers[4] = {
        { "content-type", STS_FORM_TYPE }, { "host", host }, { "x-amz-date", amz_date },
        { "x-amz-security-token", source->session_token },
    };
    sigv4_request req = { "POST", path, NULL, headers, source->session_token[0] ? 4 : 3, body, strlen(body), amz_date };
    sigv4_signer signer;
    const char *region = creds_env_get(e, "ddbrun.region");
    int rc = sigv4_signer_init(&signer, source->access_key, source->secret_key, region ? region : "us-east-1", "sts") ||
             sigv4_authorization(&signer, &req, auth, sizeof auth) ? -1 : 0;
    sigv4_signer_clear(&signer);
    if (rc != 0) return -1;
    snprintf(bufs[0], sizeof bufs[0], "Authorization: %s", auth);
    snprintf(bufs[1], sizeof bufs[1], "X-Amz-Date: %s", amz_date);
    snprintf(bufs[2], sizeof bufs[2], "X-Amz-Security-Token: %s", source->session_token);
    lines[(*n)++] = bufs[0];
    lines[(*n)++] = bufs[1];
    if (source->session_token[0]) lines[(*n)++] = bufs[2];
    return 0;
}

/* True when err is STS refusing a signature's time. */
static int sts_skewed(const char *err)
{
    return strncmp(err, "STS RequestExpired:", 19) == 0 || strncmp(err, "STS RequestTimeTooSkewed:", 25) == 0 ||
           strstr(err, "Signature expired") || strstr(err, "Signature not yet current");
}

/* POSTs the form (signed with s's clock when source is not NULL) and parses
 * the answer; *server_date_ms gets the answer's Date (0: none). */
static int sts_call(const creds_env *e, creds_session *s, const creds_value *source, const char *body,
                    creds_value *out, long long *server_date_ms, char *err, size_t errlen)
{
    char url[1024], cause[400];
    if (sts_endpoint(e, url, sizeof url, err, errlen) != 0) return -1;
    char (*bufs)[CREDS_TOKEN_SIZE + 64] = calloc(4, sizeof *bufs);
    const char *lines[5] = { "Content-Type: " STS_FORM_TYPE };
    size_t n = 1;
    int rc = -1;
    if (!bufs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *server_date_ms = 0;
    if (source && sts_sign(e, source, creds_wall_ms() + s->clock_offset_ms, url, body, bufs, lines, &n) != 0) {
        snprintf(err, errlen, "cannot sign the STS request (credentials or region too long)");
        goto cleanup;
    }
    creds_http_request r = { "POST", url, lines, n, body, STS_TIMEOUT_MS, 0, creds_env_get(e, "ddbrun.ca_bundle") };
    creds_http_response resp;
    if (creds_http_send(&r, &resp, cause, sizeof cause) != 0) {
        snprintf(err, errlen, "STS %s: %s", url, cause);
        goto cleanup;
    }
    rc = sts_parse_answer(resp.body, resp.len, resp.status, out, err, errlen);
    *server_date_ms = resp.date_ms;
    creds_http_response_free(&resp);
cleanup:
    OPENSSL_cleanse(bufs, 4 * sizeof *bufs);
    free(bufs);
    return rc;
}

int sts_assume_role(const creds_env *e, creds_session *s, const creds_value *source, const sts_role *role,
                    creds_value *out, char *err, size_t errlen)
{
    char *body = sts_form("AssumeRole", role, NULL);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long long server_date_ms;
    int rc = sts_call(e, s, source, body, out, &server_date_ms, err, errlen);
    if (rc != 0 && server_date_ms && sts_skewed(err)) {
        s->clock_offset_ms = server_date_ms - creds_wall_ms();
        rc = sts_call(e, s, source, body, out, &server_date_ms, err, errlen);
    }
    OPENSSL_cleanse(body, strlen(body));
    free(body);
    return rc;
}

static int sts_read_token(const char *path, char **token, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = '\0';
    if (n == 0) {
        free(buf);
        snprintf(err, errlen, "token file %s is empty", path);
        return -1;
    }
    *token = buf;
    return 0;
}

int sts_assume_role_with_web_identity(const creds_env *e, const sts_role *role, const char *token_file,
                                      creds_value *out, char *err, size_t errlen)
{
    char *token = NULL;
    if (sts_read_token(token_file, &token, err, errlen) != 0) return -1;
    char *body = sts_form("AssumeRoleWithWebIdentity", role, token);
    OPENSSL_cleanse(token, strlen(token));
    free(token);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long long server_date_ms;
    int rc = sts_call(e, NULL, NULL, body, out, &server_date_ms, err, errlen);
    OPENSSL_cleanse(body, strlen(body));
    free(body);
    return rc;
}
