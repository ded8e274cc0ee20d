#include "client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "creds.h"
#include "endpoints.h"
#include "http.h"
#include "sigv4.h"
#include "version.h"

struct ddb_client {
    ddb_config cfg;
    http_conn *http;
    sigv4_signer signer;
    char host[320];     /* Host header value: host[:port] */
    char path[512];     /* the endpoint's path, "/" by default */
    long long date_at;  /* the signing clock's second amz_date was formatted for */
    char amz_date[17];
    uint64_t rng;
    double consumed_wcu, consumed_rcu;   /* from ConsumedCapacity in responses */
    creds_value creds;          /* what the signer holds */
    unsigned long creds_gen;    /* their generation in cfg.creds, 0 before the first */
    long long clock_offset_ms;  /* the signing clock's correction (the chain cache's, copied per attempt) */
    long long server_date_ms;   /* the Date of the last error answer, 0 when absent */
};

#define TARGET_PREFIX "DynamoDB_20120810."

void ddb_error_set(ddb_error *err, const char *code, int retryable, const char *fmt, ...)
{
    memset(err, 0, sizeof *err);
    snprintf(err->code, sizeof err->code, "%s", code);
    err->retryable = retryable;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* The Host header value and the path to sign, from the endpoint. */
static int client_parse_endpoint(ddb_client *c, ddb_error *err)
{
    int rc = endpoints_url_parts(c->cfg.endpoint, c->host, sizeof c->host, c->path, sizeof c->path);
    if (rc == -2)
        ddb_error_set(err, "OutOfMemory", 0, "out of memory");
    else if (rc != 0)
        ddb_error_set(err, "InvalidEndpoint", 0, "endpoint '%s' is not a valid URL", c->cfg.endpoint);
    return rc == 0 ? 0 : -1;
}

ddb_client *ddb_client_new(const ddb_config *cfg, ddb_error *err)
{
    char msg[512];
    if (config_check(cfg, msg, sizeof msg) != 0) {
        ddb_error_set(err, "ConfigError", 0, "%s", msg);
        return NULL;
    }
    ddb_client *c = calloc(1, sizeof *c);
    if (!c) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory creating a client");
        return NULL;
    }
    c->cfg = *cfg;
    c->rng = retry_seed(c);
    if (client_parse_endpoint(c, err) != 0) {
        ddb_client_free(c);
        return NULL;
    }
    int static_keys = cfg->access_key[0] || !cfg->creds;
    if (static_keys && (snprintf(c->creds.access_key, sizeof c->creds.access_key, "%s", cfg->access_key) < 0 ||
                        snprintf(c->creds.session_token, sizeof c->creds.session_token, "%s", cfg->session_token) < 0 ||
                        sigv4_signer_init(&c->signer, cfg->access_key, cfg->secret_key, cfg->region, "dynamodb") != 0)) {
        ddb_error_set(err, "ConfigError", 0, "AWS credentials or region too long");
        ddb_client_free(c);
        return NULL;
    }
    c->http = http_conn_new(cfg->ca_bundle, cfg->connect_timeout_ms, cfg->request_timeout_ms);
    if (!c->http) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory creating an HTTP connection");
        ddb_client_free(c);
        return NULL;
    }
    return c;
}

void ddb_client_free(ddb_client *c)
{
    if (!c) return;
    http_conn_free(c->http);
    sigv4_signer_clear(&c->signer);
    creds_value_clear(&c->creds);
    config_clear(&c->cfg);
    free(c);
}

const ddb_config *ddb_client_config(const ddb_client *c)
{
    return &c->cfg;
}

static creds_cache *client_chain_cache(const ddb_client *c)
{
    return c->cfg.access_key[0] ? NULL : c->cfg.creds;
}

/* Makes the signer hold the cache's current credentials. */
static int client_refresh_credentials(ddb_client *c, ddb_error *err)
{
    creds_cache *cache = client_chain_cache(c);
    if (!cache) return 0;
    char msg[CREDS_ERROR_SIZE];
    unsigned long gen = c->creds_gen;
    if (creds_cache_get(cache, &c->creds, &gen, &c->clock_offset_ms, msg, sizeof msg) != 0) {
        ddb_error_set(err, "CredentialsError", 0, "%s", msg);
        return -1;
    }
    if (gen == c->creds_gen) return 0;
    c->creds_gen = 0;
    sigv4_signer_clear(&c->signer);   /* frees what the old signer kept */
    if (sigv4_signer_init(&c->signer, c->creds.access_key, c->creds.secret_key, c->cfg.region, "dynamodb") != 0) {
        ddb_error_set(err, "CredentialsError", 0, "the credentials or the region are too long to sign with");
        return -1;
    }
    c->creds_gen = gen;
    return 0;
}

int ddb_client_credentials(ddb_client *c, char *source, size_t size, long long *expiration_ms, ddb_error *err)
{
    if (client_refresh_credentials(c, err) != 0) return -1;
    if (client_chain_cache(c)) {
        creds_cache_describe(client_chain_cache(c), source, size, expiration_ms);
    } else {
        snprintf(source, size, "%s", c->cfg.static_source[0] ? c->cfg.static_source : "ddb.client options");
        *expiration_ms = 0;
    }
    return 0;
}

/* Valid after client_refresh_credentials, which copies the chain's offset. */
static long long client_signing_clock_ms(const ddb_client *c)
{
    return creds_wall_ms() + c->clock_offset_ms;
}

/* After an answer that the request's time is too far from AWS's: takes the
 * clock from the answer's Date. Returns 1 when the request is worth sending again. */
static int client_correct_clock(ddb_client *c, const ddb_error *err)
{
    int skewed = strcmp(err->code, "RequestTimeTooSkewed") == 0 ||
                 (strcmp(err->code, "InvalidSignatureException") == 0 &&
                  (strstr(err->message, "Signature expired") || strstr(err->message, "Signature not yet current")));
    if (!skewed || !c->server_date_ms) return 0;
    long long offset = c->server_date_ms - creds_wall_ms();
    c->clock_offset_ms = offset;
    if (client_chain_cache(c)) creds_cache_set_clock_offset_ms(client_chain_cache(c), offset);
    return 1;
}

/* Replaces every occurrence of secret in s by "****": server messages may
 * quote the canonical request, which holds the session token. Applied to the
 * whole message before it is cut to fit, so no part of a secret survives. */
static void client_redact(char *s, const char *secret)
{
    size_t n = strlen(secret);
    if (n < 4) return;
    for (char *hit; (hit = strstr(s, secret)) != NULL;) {
        memcpy(hit, "****", 4);
        memmove(hit + 4, hit + n, strlen(hit + n) + 1);
    }
}

/* Appends which table or index was throttled, when DynamoDB says so
 * ("ThrottlingReasons": [{"reason": ..., "resource": "arn:...:table/T/index/I"}]). */
static void client_name_throttled_resource(const json_t *doc, ddb_error *err)
{
    const json_t *first = json_array_get(json_object_get(doc, "ThrottlingReasons"), 0);
    const char *reason = json_string_value(json_object_get(first, "reason"));
    const char *arn = json_string_value(json_object_get(first, "resource"));
    const char *table = arn ? strstr(arn, ":table/") : NULL;
    if (!table)
        return;
    table += strlen(":table/");
    const char *index = strstr(table, "/index/");
    size_t used = strlen(err->message);
    if (index)
        snprintf(err->message + used, sizeof err->message - used, " [throttled: index %s of table %.*s%s%s%s]",
                 index + strlen("/index/"), (int)(index - table), table, reason ? " (" : "", reason ? reason : "",
                 reason ? ")" : "");
    else
        snprintf(err->message + used, sizeof err->message - used, " [throttled: table %s%s%s%s]", table,
                 reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
}

/* Fills err from a non-200 response: {"__type": "ns#Code", "message": "..."}. */
static void client_error_from_response(ddb_client *c, const http_response *r, ddb_error *err)
{
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    const char *type = json_string_value(json_object_get(doc, "__type"));
    const char *message = json_string_value(json_object_get(doc, "message"));
    if (!message) message = json_string_value(json_object_get(doc, "Message"));
    const char *hash = type ? strrchr(type, '#') : NULL;
    const char *code = hash ? hash + 1 : type;
    if (!code) code = r->status >= 500 ? (r->status == 503 ? "ServiceUnavailable" : "InternalServerError") : "HttpError";
    char *full = message ? strdup(message) : NULL;
    if (full) {
        client_redact(full, c->creds.secret_key[0] ? c->creds.secret_key : c->cfg.secret_key);
        client_redact(full, c->creds.session_token);
    }
    if (message)
        ddb_error_set(err, code, 0, "%s", full ? full : "(message withheld: out of memory)");
    else
        ddb_error_set(err, code, 0, "HTTP %ld from %s%s", r->status, c->cfg.endpoint,
                      doc ? "" : " (the body is not JSON)");
    free(full);
    if (retry_is_throttle(err->code))
        client_name_throttled_resource(doc, err);
    json_decref(doc);
    err->status = r->status;
    err->retryable = retry_is_retryable(err->code, r->status);
    snprintf(err->request_id, sizeof err->request_id, "%s", r->request_id);
}

static int client_checksum_ok(const http_response *r)
{
    if (!r->has_crc32) return 1;
    return crc32(0L, (const Bytef *)r->body, (uInt)r->body_len) == r->crc32;
}

/* Appends one formatted header line, stored in the next of bufs. */
static void client_add_line(const char **lines, char bufs[][4200], size_t *n, const char *fmt, const char *value)
{
    snprintf(bufs[*n], sizeof bufs[*n], fmt, value);
    lines[*n] = bufs[*n];
    ++*n;
}

/* Builds the signed header lines for one attempt into lines (storage in bufs). */
static size_t client_build_headers(ddb_client *c, const char *op, const char *body, size_t body_len,
                            const char **lines, char bufs[][4200], int *failed)
{
    char target[160];
    const char *amz_date = c->amz_date;
    long long now = client_signing_clock_ms(c) / 1000;
    if (now != c->date_at) {
        sigv4_amz_date(now, c->amz_date);
        c->date_at = now;
    }
    snprintf(target, sizeof target, TARGET_PREFIX "%s", op);
    sigv4_header signed_headers[5] = {
        { "content-type", "application/x-amz-json-1.0" },
        { "host", c->host },
        { "x-amz-date", amz_date },
        { "x-amz-target", target },
        { "x-amz-security-token", c->creds.session_token },
    };
    size_t nsigned = c->creds.session_token[0] ? 5 : 4;
    sigv4_request req = { "POST", c->path, NULL, signed_headers, nsigned, body, body_len, amz_date };
    char auth[512];
    *failed = sigv4_authorization(&c->signer, &req, auth, sizeof auth) != 0;
    size_t n = 0;
    client_add_line(lines, bufs, &n, "Authorization: %s", auth);
    client_add_line(lines, bufs, &n, "X-Amz-Date: %s", amz_date);
    client_add_line(lines, bufs, &n, "X-Amz-Target: %s", target);
    client_add_line(lines, bufs, &n, "Host: %s", c->host);
    if (nsigned == 5) client_add_line(lines, bufs, &n, "X-Amz-Security-Token: %s", c->creds.session_token);
    lines[n++] = "Content-Type: application/x-amz-json-1.0";
    lines[n++] = "User-Agent: ddbrun/" DDBRUN_VERSION;
    lines[n++] = "Expect:";   /* no 100-continue round trip for large bodies */
    return n;
}

static int is_read_op(const char *op)
{
    return strcmp(op, "Query") == 0 || strcmp(op, "Scan") == 0 || strcmp(op, "GetItem") == 0 ||
           strcmp(op, "BatchGetItem") == 0 || strcmp(op, "TransactGetItems") == 0;
}

static int contains(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= len; i++)
        if (s[i] == word[0] && memcmp(s + i, word, n) == 0) return 1;
    return 0;
}

static double capacity_units(const json_t *cc)
{
    if (json_is_object(cc)) return json_number_value(json_object_get(cc, "CapacityUnits"));
    double sum = 0;
    size_t i;
    json_t *e;
    json_array_foreach(cc, i, e) sum += json_number_value(json_object_get(e, "CapacityUnits"));
    return sum;
}

/* Adds what a response says it consumed (requests that asked with
 * ReturnConsumedCapacity); doc is the parsed response, or NULL to parse the
 * body only when it mentions ConsumedCapacity. */
static void add_consumed(ddb_client *c, const char *op, const json_t *doc, const http_response *r)
{
    json_t *own = NULL;
    if (!doc && contains(r->body, r->body_len, "\"ConsumedCapacity\""))
        doc = own = json_loadb(r->body, r->body_len, 0, NULL);
    double units = capacity_units(json_object_get(doc, "ConsumedCapacity"));
    if (is_read_op(op)) c->consumed_rcu += units;
    else c->consumed_wcu += units;
    json_decref(own);
}

void ddb_client_consumed(const ddb_client *c, double *wcu, double *rcu)
{
    *wcu = c->consumed_wcu;
    *rcu = c->consumed_rcu;
}

int ddb_client_begin(ddb_client *c, http_conn *conn, const char *op, const char *body, size_t body_len,
                     http_response *resp, ddb_error *err)
{
    const char *lines[8];
    char bufs[5][4200];
    int failed;
    c->server_date_ms = 0;
    if (client_refresh_credentials(c, err) != 0) return -1;
    size_t n = client_build_headers(c, op, body, body_len, lines, bufs, &failed);
    if (failed) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory signing the request");
        return -1;
    }
    http_error herr;
    int rc = http_begin(conn, c->cfg.endpoint, lines, n, body, body_len, resp, &herr);
    if (c->creds.session_token[0]) OPENSSL_cleanse(bufs, sizeof bufs);   /* the token line is a secret */
    if (rc != 0) {
        ddb_error_set(err, herr.code, retry_is_retryable(herr.code, 0), "%s", herr.message);
        return -1;
    }
    return 0;
}

int ddb_client_end(ddb_client *c, http_conn *conn, const char *op, CURLcode result, http_response *r,
                   json_t **out, ddb_error *err)
{
    http_error herr;
    if (http_end(conn, result, r, &herr) != 0) {
        ddb_error_set(err, herr.code, retry_is_retryable(herr.code, 0), "%s", herr.message);
        return -1;
    }
    /* the status comes first: a 4xx is a refusal even when its body is damaged */
    int checksum = client_checksum_ok(r);
    if (r->status != 200 && checksum) {
        if (creds_parse_http_date(r->date, &c->server_date_ms) != 0) c->server_date_ms = 0;
        client_error_from_response(c, r, err);
        err->uncertain = r->maybe_resent;
        /* DynamoDB bills a failed conditional write (1 WCU for a small item) */
        if (strcmp(err->code, "ConditionalCheckFailedException") == 0 && !is_read_op(op)) c->consumed_wcu += 1;
        return -1;
    }
    if (!checksum) {
        ddb_error_set(err, "ChecksumMismatch", 1, "%s: the response does not match its x-amz-crc32 checksum",
                      c->cfg.endpoint);
        err->status = r->status;
        err->uncertain = r->maybe_resent;
        return -1;
    }
    if (!out) {
        add_consumed(c, op, NULL, r);
        return 0;
    }
    json_error_t jerr;
    *out = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, &jerr);
    if (!*out) {
        ddb_error_set(err, "InvalidResponse", 1, "%s: the response is not valid JSON: %s at byte %d",
                      c->cfg.endpoint, jerr.text, jerr.position);
        snprintf(err->request_id, sizeof err->request_id, "%s", r->request_id);
        err->status = r->status;
        return -1;
    }
    add_consumed(c, op, *out, r);
    return 0;
}

/* One attempt. */
static int client_send_once(ddb_client *c, const char *op, const char *body, size_t body_len,
                            json_t **out, ddb_error *err)
{
    http_response r;
    if (ddb_client_begin(c, c->http, op, body, body_len, &r, err) != 0) return -1;
    return ddb_client_end(c, c->http, op, curl_easy_perform(http_handle(c->http)), &r, out, err);
}

int ddb_client_correct_clock(ddb_client *c, const ddb_error *err)
{
    return client_correct_clock(c, err);
}

/* A 4xx answer, damaged or not, says the server refused the request. */
int ddb_client_outcome_unknown(const ddb_error *err)
{
    if (err->status >= 400 && err->status < 500)
        return 0;
    return err->status >= 500 || strcmp(err->code, "ConnectionReset") == 0 ||
           strcmp(err->code, "TimeoutError") == 0 || strcmp(err->code, "InvalidResponse") == 0 ||
           strcmp(err->code, "ChecksumMismatch") == 0;
}

/* One attempt under the shared limits: the cap and the adaptive limiter. */
static int client_limited_send(ddb_client *c, const char *op, const char *body, size_t body_len,
                               json_t **out, ddb_error *err)
{
    if (c->cfg.cap)
        throttle_bucket_acquire(c->cfg.cap);
    double sent = throttle_before_send(c->cfg.throttle);
    int rc = client_send_once(c, op, body, body_len, out, err);
    throttle_after_response(c->cfg.throttle, rc != 0 && retry_is_throttle(err->code), sent);
    return rc;
}

/* Appends to err's message that it was not retried because the shared retry
 * quota could not pay for a retry, and sets err->quota_empty. */
static void ddb_client_quota_empty(ddb_error *err)
{
    size_t used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used, " (not retried: the retry quota is empty)");
    err->quota_empty = 1;
}

int ddb_client_call(ddb_client *c, const char *op, const char *body, size_t body_len,
                    const retry_policy *policy, json_t **out, ddb_error *err)
{
    const retry_policy *p = policy ? policy : &c->cfg.retry;
    int uncertain = 0;
    int retry_cost = 0;
    int clock_corrected = 0;
    for (int attempt = 1;; attempt++) {
        int rc = client_limited_send(c, op, body, body_len, out, err);
        if (rc != 0 && !clock_corrected && client_correct_clock(c, err)) {
            clock_corrected = 1;   /* once per call, as the SDKs do; not an attempt */
            rc = client_limited_send(c, op, body, body_len, out, err);
        }
        if (rc == 0) {
            throttle_success(c->cfg.throttle, retry_cost);
            return 0;
        }
        err->attempts = attempt;
        err->uncertain |= uncertain;
        if (!err->retryable || attempt >= p->max_attempts)
            return -1;
        int cost = throttle_take_retry(c->cfg.throttle, strcmp(err->code, "TimeoutError") == 0);
        if (cost == 0) {
            ddb_client_quota_empty(err);
            return -1;
        }
        retry_cost += cost;
        uncertain |= err->uncertain || ddb_client_outcome_unknown(err);
        retry_sleep_ms(retry_delay_ms(p, attempt, &c->rng));
    }
}


int ddb_client_add_token(const char *op, json_t *request)
{
    unsigned char b[16];
    char token[40];
    if (strcmp(op, "TransactWriteItems") != 0 || json_object_get(request, "ClientRequestToken"))
        return 0;
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* a version 4 UUID, as the SDKs send */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(token, sizeof token,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return json_object_set_new(request, "ClientRequestToken", json_string(token));
}

int ddb_client_call_json(ddb_client *c, const char *op, const json_t *request,
                         const retry_policy *policy, json_t **out, ddb_error *err)
{
    char *body = json_dumps(request, JSON_COMPACT);
    if (!body) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory encoding the %s request", op);
        return -1;
    }
    int rc = ddb_client_call(c, op, body, strlen(body), policy, out, err);
    free(body);
    return rc;
}
