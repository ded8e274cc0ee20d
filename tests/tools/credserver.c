/* credserver: the stand-in for the AWS credential endpoints in the
 * credentials specs, and a logging proxy in front of DynamoDB Local.
 *
 *   credserver --upstream PORT [--expiry S] [--issue-delay-ms MS] [--role NAME]
 *              [--static KEY:SECRET]... [--container-token T] [--web-token T]
 *              [--fail KIND] [--fail-after N] [--clock-offset S]
 *              [--stats FILE] [--log FILE] [--seconds N]
 *
 * Listens on 127.0.0.1 (a free port), prints "PORT <port> PID <pid>" and serves,
 * on that one port:
 *   IMDSv2    PUT /latest/api/token (needs x-aws-ec2-metadata-token-ttl-seconds),
 *             GET /latest/meta-data/iam/security-credentials/[ROLE] (needs the token)
 *   container GET /container/... (needs "Authorization: T" with --container-token)
 *   STS       POST / with Action=AssumeRole (SigV4 checked against --static keys
 *             or keys it issued) or Action=AssumeRoleWithWebIdentity (token T)
 *   DynamoDB  any other POST: the signature is checked against the key's secret,
 *             the session token and expiry against what was issued, then the
 *             request goes to 127.0.0.1:PORT. Also as an HTTP proxy (absolute URI).
 * Every credential answer is new keys (letters and digits, as DynamoDB Local
 * wants) expiring in S seconds (default 4), after MS ms (default 100) so
 * that overlapping refreshes would be seen (max_inflight).
 * --fail imds-401 | imds-404 | imds-garbage | imds-v1-only | sts-error | container-401
 * makes that source fail, from the (N+1)th credential request with --fail-after N;
 * --fail imds-token-503-once answers the first token PUT with 503 (transient).
 * --clock-offset S: the server's clock is S seconds ahead; DynamoDB requests
 * signed more than 5 minutes away from it get InvalidSignatureException
 * "Signature expired", AssumeRole requests SignatureDoesNotMatch "Signature
 * expired" (sts_skew_rejected), both with the server's Date.
 * The stats file ("<name> <count>" lines) is rewritten after every request;
 * the log gets one line per credential issued and per DynamoDB request. */
#define _DEFAULT_SOURCE   /* timegm */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sigv4.h"
#include "toolnet.h"

#define CS_MAX_ISSUED 4096
#define CS_MAX_STATIC 8
#define CS_ROLE_PATH "/latest/meta-data/iam/security-credentials/"

enum { CS_FAIL_NONE, CS_FAIL_IMDS_401, CS_FAIL_IMDS_404, CS_FAIL_IMDS_GARBAGE, CS_FAIL_IMDS_V1_ONLY,
       CS_FAIL_STS_ERROR, CS_FAIL_CONTAINER_401, CS_FAIL_IMDS_TOKEN_503_ONCE };
static const char *const CS_FAIL_NAMES[] = { "none", "imds-401", "imds-404", "imds-garbage", "imds-v1-only",
                                             "sts-error", "container-401", "imds-token-503-once", NULL };

/* The counters, in stats file order. */
#define CS_COUNTERS(X) X(requests) X(ddb_requests) X(ddb_ok) X(ddb_unknown_key) X(ddb_bad_signature) \
    X(ddb_bad_token) X(ddb_expired_signing) X(ddb_expired_received) X(ddb_via_proxy) X(ddb_upstream_errors) \
    X(ddb_skew_rejected) X(issued) X(issued_imds) X(issued_container) X(issued_sts) X(issued_web_identity) \
    X(refresh_failures) X(max_inflight) X(imds_token_puts) X(imds_requests) X(imds_missing_token) \
    X(metadata_via_proxy) X(container_requests) X(container_unauthorized) X(sts_requests) X(sts_bad_signature) \
    X(keys_used) X(sts_skew_rejected)
#define CS_ENUM(name) CS_##name,
#define CS_NAME(name) #name,
enum { CS_COUNTERS(CS_ENUM) CS_COUNTER_COUNT };
static const char *const CS_COUNTER_NAMES[] = { CS_COUNTERS(CS_NAME) };

typedef struct cs_key {
    char id[32], secret[48], token[256];
    long long expiration_ms;     /* 0: static */
    int used;
} cs_key;

typedef struct cs_options {
    int upstream_port;
    long expiry_s, issue_delay_ms, fail, fail_after, clock_offset_s, seconds;
    const char *role, *container_token, *web_token, *stats_path, *log_path;
    cs_key statics[CS_MAX_STATIC];
    int static_count;
} cs_options;

typedef struct cs_server {
    cs_options o;
    int listen_fd;
    int stop_pipe[2];
    pthread_mutex_t lock;         /* guards active, issued, tokens, counters' file and the log */
    pthread_cond_t idle;
    int active;
    cs_key issued[CS_MAX_ISSUED];
    int issued_count;
    long credential_requests;     /* issuing requests seen (for --fail-after) */
    char imds_tokens[64][40];
    int imds_token_count;
    int imds_503_sent;          /* imds-token-503-once: the 503 was sent */
    atomic_long counters[CS_COUNTER_COUNT];
    atomic_long inflight;
    FILE *log;
} cs_server;

typedef struct cs_conn {
    cs_server *s;
    tn_conn io;
} cs_conn;

static int cs_handle(cs_conn *c, size_t len);

static void cs_conn_free(cs_conn *c)
{
    cs_server *s = c->s;
    tn_conn_release(&c->io);
    free(c);
    tn_thread_done(&s->lock, &s->idle, &s->active);
}

static void *cs_conn_main(void *arg)
{
    cs_conn *c = arg;
    long len;
    while ((len = tn_read_request(c->s->stop_pipe[0], c->io.client_fd, &c->io.in)) > 0) {
        if (cs_handle(c, (size_t)len) != 0) break;
        tn_buf_consume(&c->io.in, (size_t)len);
    }
    cs_conn_free(c);
    return NULL;
}

static void cs_start_conn(void *server, int fd)
{
    cs_server *s = server;
    cs_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->s = s;
    tn_conn_init(&c->io, fd);
    if (tn_thread_start(&s->lock, &s->active, cs_conn_main, c) != 0) cs_conn_free(c);
}

static void *cs_accept_main(void *arg)
{
    cs_server *s = arg;
    tn_accept_loop(s->listen_fd, s->stop_pipe[0], cs_start_conn, s);
    return NULL;
}

/* --- counters, log, clock --- */

static void cs_count(cs_server *s, int which)
{
    atomic_fetch_add(&s->counters[which], 1);
}

static long long cs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long cs_now_ms(const cs_server *s)
{
    return cs_wall_ms() + s->o.clock_offset_s * 1000;
}

static void cs_iso(long long ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "20261201T140000Z" to Unix ms, -1 when malformed. */
static long long cs_amz_ms(const char *v)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!v || sscanf(v, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000;
}

static void cs_log(cs_server *s, const char *fmt, ...)
{
    if (!s->log) return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->lock);
    fprintf(s->log, "%lld ", cs_wall_ms());
    vfprintf(s->log, fmt, ap);
    fputc('\n', s->log);
    fflush(s->log);
    pthread_mutex_unlock(&s->lock);
    va_end(ap);
}

/* Rewrites the stats file (write, then rename: readers never see half of it). */
static int cs_write_stats(cs_server *s)
{
    if (!s->o.stats_path) return 0;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->o.stats_path);
    pthread_mutex_lock(&s->lock);
    FILE *f = fopen(tmp, "w");
    int rc = 1;
    if (f) {
        for (int i = 0; i < CS_COUNTER_COUNT; i++) fprintf(f, "%s %ld\n", CS_COUNTER_NAMES[i], atomic_load(&s->counters[i]));
        rc = fclose(f) != 0 || rename(tmp, s->o.stats_path) != 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* --- answering --- */

static int cs_reply(cs_conn *c, int status, const char *type, const char *extra, const char *body)
{
    char date[64];
    time_t t = (time_t)(cs_now_ms(c->s) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    c->io.head.len = 0;
    size_t len = strlen(body);
    if (tn_buf_printf(&c->io.head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nDate: %s\r\nContent-Length: %zu\r\n%s\r\n",
                      status, type, date, len, extra ? extra : "") != 0 ||
        tn_write(c->s->stop_pipe[0], c->io.client_fd, c->io.head.data, c->io.head.len) != 0)
        return -1;
    return tn_write(c->s->stop_pipe[0], c->io.client_fd, body, len);
}

static int cs_reply_ddb_error(cs_conn *c, int status, const char *code, const char *message)
{
    char body[600];
    snprintf(body, sizeof body, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#%s\",\"message\":\"%s\"}", code, message);
    return cs_reply(c, status, "application/x-amz-json-1.0", NULL, body);
}

static int cs_reply_sts_error(cs_conn *c, int status, const char *code, const char *message)
{
    char body[800];
    snprintf(body, sizeof body, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
             "<Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>cs-1</RequestId></ErrorResponse>",
             code, message);
    return cs_reply(c, status, "text/xml", NULL, body);
}

/* --- keys --- */

static void cs_random_text(uint64_t *state, char *out, size_t n, const char *alphabet)
{
    size_t k = strlen(alphabet);
    for (size_t i = 0; i < n; i++) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        out[i] = alphabet[*state % k];
    }
    out[n] = '\0';
}

#define CS_UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define CS_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* Whether this credential request should fail (the --fail kind, after --fail-after). */
static int cs_failing(cs_server *s, long kind)
{
    pthread_mutex_lock(&s->lock);
    int failing = s->o.fail == kind && s->credential_requests >= s->o.fail_after;
    pthread_mutex_unlock(&s->lock);
    return failing;
}

/* Marks the start of an issuing request: counts it in flight (the peak is
 * max_inflight) and waits --issue-delay-ms so overlapping ones would show. */
static void cs_begin_issue(cs_conn *c)
{
    cs_server *s = c->s;
    long now = atomic_fetch_add(&s->inflight, 1) + 1;
    long peak = atomic_load(&s->counters[CS_max_inflight]);
    while (now > peak && !atomic_compare_exchange_weak(&s->counters[CS_max_inflight], &peak, now)) {}
    if (s->o.issue_delay_ms) tn_sleep(c->s->stop_pipe[0], s->o.issue_delay_ms);
}

static void cs_end_issue(cs_server *s, int failed)
{
    atomic_fetch_sub(&s->inflight, 1);
    pthread_mutex_lock(&s->lock);
    s->credential_requests++;
    pthread_mutex_unlock(&s->lock);
    if (failed) cs_count(s, CS_refresh_failures);
}

/* New credentials, remembered for checking DynamoDB requests. */
static void cs_issue(cs_conn *c, int counter, const char *how, cs_key *out)
{
    cs_server *s = c->s;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    uint64_t state = (uint64_t)cs_wall_ms() * 6364136223846793005ull + (uint64_t)s->issued_count * 1442695040888963407ull + 1;
    memcpy(out->id, "ASIA", 4);
    cs_random_text(&state, out->id + 4, 16, CS_UPPER);
    cs_random_text(&state, out->secret, 40, CS_ALNUM);
    cs_random_text(&state, out->token, 160, CS_ALNUM);
    out->expiration_ms = (cs_now_ms(s) + s->o.expiry_s * 1000) / 1000 * 1000;   /* whole seconds, as AWS writes it */
    if (s->issued_count < CS_MAX_ISSUED) s->issued[s->issued_count++] = *out;
    pthread_mutex_unlock(&s->lock);
    cs_count(s, CS_issued);
    cs_count(s, counter);
    char when[32];
    cs_iso(out->expiration_ms, when);
    cs_log(s, "issue %s key=%s expiration=%s", how, out->id, when);
}

/* Copies the key with this id (static or issued) into *out; 0 when unknown. */
static int cs_find_key(cs_server *s, const char *id, cs_key *out, int mark_used)
{
    int found = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; !found && i < s->o.static_count; i++)
        if (strcmp(s->o.statics[i].id, id) == 0) *out = s->o.statics[i], found = 1;
    for (int i = 0; !found && i < s->issued_count; i++) {
        if (strcmp(s->issued[i].id, id) != 0) continue;
        *out = s->issued[i];
        found = 1;
        if (mark_used && !s->issued[i].used) {
            s->issued[i].used = 1;
            cs_count(s, CS_keys_used);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

static void cs_json_creds(const cs_key *k, const char *role, char *out, size_t size)
{
    char when[32];
    cs_iso(k->expiration_ms, when);
    snprintf(out, size, "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\","
             "\"Token\":\"%s\",\"Expiration\":\"%s\",\"RoleArn\":\"arn:aws:iam::123456789012:role/%s\"}",
             k->id, k->secret, k->token, when, role);
}

/* --- requests --- */

typedef struct cs_request {
    const char *head;
    size_t head_len;
    char method[8];
    char path[1024];           /* origin-form, even when the request came as a proxy request */
    int via_proxy;             /* the request line had an absolute URI */
    const char *body;
    size_t body_len;
} cs_request;

static int cs_parse_request(cs_conn *c, size_t len, cs_request *r)
{
    memset(r, 0, sizeof *r);
    r->head = c->io.in.data;
    r->head_len = tn_head_length(&c->io.in);
    r->body = c->io.in.data + r->head_len;
    r->body_len = len - r->head_len;
    char target[1024];
    if (sscanf(c->io.in.data, "%7s %1023s", r->method, target) != 2) return -1;
    const char *path = target;
    if (strncmp(target, "http://", 7) == 0) {
        r->via_proxy = 1;
        path = strchr(target + 7, '/');
        if (!path) path = "/";
    }
    snprintf(r->path, sizeof r->path, "%s", path);
    return 0;
}

/* A header's value, NUL-terminated, into out ("" when absent). */
static int cs_get(const cs_request *r, const char *name, char *out, size_t size)
{
    const char *v;
    size_t len;
    out[0] = '\0';
    if (!tn_header(r->head, r->head_len, name, &v, &len)) return 0;
    if (len >= size) len = size - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 1;
}

/* The value of name in a form body, decoded, into out. */
static int cs_form(const cs_request *r, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    const char *p = r->body, *end = r->body + r->body_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (!amp) amp = end;
        if ((size_t)(amp - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t o = 0;
            for (const char *q = p + n + 1; q < amp && o + 1 < size; q++) {
                unsigned hex;
                if (*q == '%' && q + 2 < amp + 1 && sscanf(q + 1, "%2x", &hex) == 1) {
                    out[o++] = (char)hex;
                    q += 2;
                } else {
                    out[o++] = *q == '+' ? ' ' : *q;
                }
            }
            out[o] = '\0';
            return 1;
        }
        p = amp + 1;
    }
    out[0] = '\0';
    return 0;
}

/* Checks the SigV4 Authorization of r for service. Returns 0 with the key
 * used and the signing time, or -1 with why ("unknown key", "bad signature"). */
static int cs_verify(cs_conn *c, const cs_request *r, const char *service, cs_key *key, long long *signed_ms,
                     const char **why)
{
    char auth[1024], id[64], scope_region[64], scope_service[64], names[512], amz_date[32], mine[1024];
    if (!cs_get(r, "Authorization", auth, sizeof auth) ||
        sscanf(auth, "AWS4-HMAC-SHA256 Credential=%63[^/]/%*8s/%63[^/]/%63[^/]/aws4_request, SignedHeaders=%511[^,],",
               id, scope_region, scope_service, names) != 4 || strcmp(scope_service, service) != 0) {
        *why = "malformed Authorization";
        return -1;
    }
    if (!cs_find_key(c->s, id, key, strcmp(service, "dynamodb") == 0)) {
        *why = "unknown key";
        return -1;
    }
    cs_get(r, "X-Amz-Date", amz_date, sizeof amz_date);
    *signed_ms = cs_amz_ms(amz_date);
    sigv4_header headers[12];
    char (*values)[4200] = calloc(12, sizeof *values);
    size_t n = 0;
    for (char *save = NULL, *name = strtok_r(names, ";", &save); values && name && n < 12; name = strtok_r(NULL, ";", &save)) {
        cs_get(r, name, values[n], sizeof values[n]);
        headers[n].name = name;
        headers[n].value = values[n];
        n++;
    }
    sigv4_request req = { "POST", r->path, NULL, headers, n, r->body, r->body_len, amz_date };
    sigv4_signer signer;
    int ok = values && sigv4_signer_init(&signer, key->id, key->secret, scope_region, service) == 0 &&
             sigv4_authorization(&signer, &req, mine, sizeof mine) == 0 && strcmp(mine, auth) == 0;
    if (values) sigv4_signer_clear(&signer);
    free(values);
    if (!ok) *why = "bad signature";
    return ok ? 0 : -1;
}

/* --- instance metadata --- */

static int cs_imds_token_ok(cs_server *s, const cs_request *r)
{
    char token[64];
    if (!cs_get(r, "x-aws-ec2-metadata-token", token, sizeof token)) return 0;
    pthread_mutex_lock(&s->lock);
    int ok = 0;
    for (int i = 0; !ok && i < s->imds_token_count; i++) ok = strcmp(s->imds_tokens[i], token) == 0;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static int cs_imds_put_token(cs_conn *c, const cs_request *r)
{
    cs_server *s = c->s;
    char ttl[32], token[40];
    cs_count(s, CS_imds_token_puts);
    if (s->o.fail == CS_FAIL_IMDS_V1_ONLY) return cs_reply(c, 403, "text/plain", NULL, "Forbidden");
    pthread_mutex_lock(&s->lock);
    int unavailable = s->o.fail == CS_FAIL_IMDS_TOKEN_503_ONCE && !s->imds_503_sent;
    s->imds_503_sent = 1;
    pthread_mutex_unlock(&s->lock);
    if (unavailable) return cs_reply(c, 503, "text/plain", NULL, "Service Unavailable");
    if (!cs_get(r, "x-aws-ec2-metadata-token-ttl-seconds", ttl, sizeof ttl) || atol(ttl) <= 0)
        return cs_reply(c, 400, "text/plain", NULL, "Bad Request");
    pthread_mutex_lock(&s->lock);
    snprintf(token, sizeof token, "imdsv2token%d", s->imds_token_count);
    if (s->imds_token_count < 64) snprintf(s->imds_tokens[s->imds_token_count++], sizeof s->imds_tokens[0], "%s", token);
    pthread_mutex_unlock(&s->lock);
    return cs_reply(c, 200, "text/plain", NULL, token);
}

static int cs_imds_credentials(cs_conn *c)
{
    cs_server *s = c->s;
    char body[1024];
    cs_key k;
    cs_begin_issue(c);
    int fail401 = cs_failing(s, CS_FAIL_IMDS_401), garbage = cs_failing(s, CS_FAIL_IMDS_GARBAGE);
    if (!fail401 && !garbage) {
        cs_issue(c, CS_issued_imds, "imds", &k);
        cs_json_creds(&k, s->o.role, body, sizeof body);
    }
    cs_end_issue(s, fail401 || garbage);
    if (fail401) return cs_reply(c, 401, "text/plain", NULL, "Unauthorized");
    if (garbage) return cs_reply(c, 200, "text/plain", NULL, "<html>not credentials</html>");
    return cs_reply(c, 200, "application/json", NULL, body);
}

static int cs_imds(cs_conn *c, const cs_request *r)
{
    cs_server *s = c->s;
    if (r->via_proxy) cs_count(s, CS_metadata_via_proxy);
    if (strcmp(r->method, "PUT") == 0 && strcmp(r->path, "/latest/api/token") == 0) return cs_imds_put_token(c, r);
    cs_count(s, CS_imds_requests);
    if (s->o.fail != CS_FAIL_IMDS_V1_ONLY && !cs_imds_token_ok(s, r)) {
        cs_count(s, CS_imds_missing_token);
        return cs_reply(c, 401, "text/plain", NULL, "Unauthorized");
    }
    if (strcmp(r->path, CS_ROLE_PATH) == 0)
        return cs_failing(s, CS_FAIL_IMDS_404) ? cs_reply(c, 404, "text/plain", NULL, "Not Found")
                                               : cs_reply(c, 200, "text/plain", NULL, s->o.role);
    if (strncmp(r->path, CS_ROLE_PATH, strlen(CS_ROLE_PATH)) == 0 && strcmp(r->path + strlen(CS_ROLE_PATH), s->o.role) == 0)
        return cs_imds_credentials(c);
    return cs_reply(c, 404, "text/plain", NULL, "Not Found");
}

/* --- container endpoint --- */

static int cs_container(cs_conn *c, const cs_request *r)
{
    cs_server *s = c->s;
    char auth[512], body[1024];
    cs_key k;
    cs_count(s, CS_container_requests);
    if (r->via_proxy) cs_count(s, CS_metadata_via_proxy);
    cs_get(r, "Authorization", auth, sizeof auth);
    if (s->o.container_token && strcmp(auth, s->o.container_token) != 0) {
        cs_count(s, CS_container_unauthorized);
        cs_count(s, CS_refresh_failures);
        return cs_reply(c, 401, "application/json", NULL, "{\"message\":\"unauthorized\"}");
    }
    cs_begin_issue(c);
    int failing = cs_failing(s, CS_FAIL_CONTAINER_401);
    if (!failing) {
        cs_issue(c, CS_issued_container, "container", &k);
        cs_json_creds(&k, s->o.role, body, sizeof body);
    }
    cs_end_issue(s, failing);
    return failing ? cs_reply(c, 401, "application/json", NULL, "{\"message\":\"unauthorized\"}")
                   : cs_reply(c, 200, "application/json", NULL, body);
}

/* --- STS --- */

static int cs_sts_answer(cs_conn *c, const char *action, int counter, const char *how)
{
    char body[2048], when[32];
    cs_key k;
    cs_issue(c, counter, how, &k);
    cs_iso(k.expiration_ms, when);
    snprintf(body, sizeof body, "<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><%sResult>"
             "<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
             "<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
             "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/x/y</Arn></AssumedRoleUser>"
             "</%sResult><ResponseMetadata><RequestId>cs-1</RequestId></ResponseMetadata></%sResponse>",
             action, action, k.id, k.secret, k.token, when, action, action);
    return cs_reply(c, 200, "text/xml", NULL, body);
}

/* With --clock-offset: whether r was signed more than 5 minutes from our clock. */
static int cs_sts_skewed(cs_conn *c, const cs_request *r)
{
    char amz_date[32];
    if (!c->s->o.clock_offset_s) return 0;
    cs_get(r, "X-Amz-Date", amz_date, sizeof amz_date);
    long long at = cs_amz_ms(amz_date);
    if (at >= 0 && llabs(at - cs_now_ms(c->s)) <= 5 * 60 * 1000) return 0;
    cs_count(c->s, CS_sts_skew_rejected);
    cs_log(c->s, "sts skew signed=%s", amz_date);
    return 1;
}

static int cs_sts(cs_conn *c, const cs_request *r)
{
    cs_server *s = c->s;
    char action[64], role[256], session[128], external[128], duration[16], web[512], token[512];
    cs_count(s, CS_sts_requests);
    cs_form(r, "Action", action, sizeof action);
    cs_form(r, "RoleArn", role, sizeof role);
    cs_form(r, "RoleSessionName", session, sizeof session);
    cs_form(r, "ExternalId", external, sizeof external);
    cs_form(r, "DurationSeconds", duration, sizeof duration);
    cs_begin_issue(c);
    int rc, failed = 1;
    if (cs_failing(s, CS_FAIL_STS_ERROR)) {
        rc = cs_reply_sts_error(c, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/ddbrun is not authorized to perform: sts:AssumeRole");
    } else if (strcmp(action, "AssumeRoleWithWebIdentity") == 0) {
        cs_form(r, "WebIdentityToken", web, sizeof web);
        cs_log(s, "sts %s role=%s session=%s token_ok=%d", action, role, session, !s->o.web_token || strcmp(web, s->o.web_token) == 0);
        if (s->o.web_token && strcmp(web, s->o.web_token) != 0) {
            rc = cs_reply_sts_error(c, 400, "InvalidIdentityToken", "The web identity token is not valid");
        } else {
            rc = cs_sts_answer(c, action, CS_issued_web_identity, "web-identity");
            failed = 0;
        }
    } else if (strcmp(action, "AssumeRole") == 0 && cs_sts_skewed(c, r)) {
        rc = cs_reply_sts_error(c, 403, "SignatureDoesNotMatch", "Signature expired: the request time is more than 5 min away from the server's");
    } else if (strcmp(action, "AssumeRole") == 0) {
        cs_key k;
        long long signed_ms;
        const char *why = NULL;
        char auth[1024], region[64] = "-";
        cs_get(r, "Authorization", auth, sizeof auth);
        sscanf(auth, "AWS4-HMAC-SHA256 Credential=%*[^/]/%*8s/%63[^/]/", region);
        int ok = cs_verify(c, r, "sts", &k, &signed_ms, &why) == 0;
        cs_get(r, "X-Amz-Security-Token", token, sizeof token);
        if (ok && strcmp(token, k.token) != 0) ok = 0, why = "wrong session token";
        cs_log(s, "sts %s role=%s session=%s external_id=%s duration=%s region=%s source=%s signature=%s", action, role,
               session, external, duration, region, ok ? k.id : "-", ok ? "ok" : why);
        if (!ok) {
            cs_count(s, CS_sts_bad_signature);
            rc = cs_reply_sts_error(c, 403, "SignatureDoesNotMatch", why);
        } else {
            rc = cs_sts_answer(c, action, CS_issued_sts, "assume-role");
            failed = 0;
        }
    } else {
        rc = cs_reply_sts_error(c, 400, "InvalidAction", "unknown action");
    }
    cs_end_issue(s, failed);
    return rc;
}

/* --- DynamoDB --- */

/* Sends the request upstream in origin form and relays the answer. */
static int cs_forward(cs_conn *c, const cs_request *r, size_t len)
{
    tn_buf req = { NULL, 0, 0 };
    const char *eol = memchr(c->io.in.data, '\n', len);
    int ok = eol && tn_buf_printf(&req, "POST %s HTTP/1.1\r\n", r->path) == 0 &&
             tn_buf_append(&req, eol + 1, len - (size_t)(eol + 1 - c->io.in.data)) == 0;
    int stop = c->s->stop_pipe[0];
    int close_after = 0;
    int chunked;
    ok = ok && tn_conn_upstream(&c->io, c->s->o.upstream_port) == 0 &&
         tn_write(stop, c->io.upstream_fd, req.data, req.len) == 0 &&
         tn_read_response(stop, c->io.upstream_fd, &c->io.up, &c->io.head, &c->io.body, &close_after, &chunked) == 0;
    free(req.data);
    if (!ok || close_after) tn_conn_close_upstream(&c->io);
    if (!ok) {
        cs_count(c->s, CS_ddb_upstream_errors);
        return cs_reply_ddb_error(c, 500, "InternalServerError", "credserver: upstream failed");
    }
    if (tn_buf_printf(&c->io.head, "Content-Length: %zu\r\n\r\n", c->io.body.len) != 0 ||
        tn_write(stop, c->io.client_fd, c->io.head.data, c->io.head.len) != 0)
        return -1;
    return tn_write(stop, c->io.client_fd, c->io.body.data, c->io.body.len);
}

static int cs_ddb(cs_conn *c, const cs_request *r, size_t len)
{
    cs_server *s = c->s;
    cs_key k;
    long long signed_ms = -1, now = cs_now_ms(s);
    const char *why = NULL;
    char token[512], body[256];
    cs_count(s, CS_ddb_requests);
    if (r->via_proxy) cs_count(s, CS_ddb_via_proxy);
    char amz_date[32];
    cs_get(r, "X-Amz-Date", amz_date, sizeof amz_date);
    long long at = cs_amz_ms(amz_date);
    if (s->o.clock_offset_s && (at < 0 || llabs(at - now) > 5 * 60 * 1000)) {
        char server[32];
        time_t t = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(server, sizeof server, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(body, sizeof body, "Signature expired: %s is now earlier than %s - 5 min.", amz_date, server);
        cs_count(s, CS_ddb_skew_rejected);
        cs_log(s, "ddb skew signed=%s", amz_date);
        return cs_reply_ddb_error(c, 400, "InvalidSignatureException", body);
    }
    if (cs_verify(c, r, "dynamodb", &k, &signed_ms, &why) != 0) {
        int unknown = strcmp(why, "unknown key") == 0;
        cs_count(s, unknown ? CS_ddb_unknown_key : CS_ddb_bad_signature);
        cs_log(s, "ddb rejected why=%s", why);
        return unknown ? cs_reply_ddb_error(c, 400, "UnrecognizedClientException", "The security token included in the request is invalid.")
                       : cs_reply_ddb_error(c, 400, "InvalidSignatureException", "credserver: the signature does not match");
    }
    cs_get(r, "X-Amz-Security-Token", token, sizeof token);
    if (strcmp(token, k.token) != 0) {
        cs_count(s, CS_ddb_bad_token);
        cs_log(s, "ddb rejected key=%s why=wrong-session-token", k.id);
        return cs_reply_ddb_error(c, 400, "UnrecognizedClientException", "The security token included in the request is invalid.");
    }
    int expired_signing = k.expiration_ms && signed_ms >= k.expiration_ms;
    int expired_received = k.expiration_ms && now >= k.expiration_ms;
    if (expired_received) cs_count(s, CS_ddb_expired_received);
    cs_log(s, "ddb key=%s signed=%s expired_signing=%d expired_received=%d", k.id, amz_date, expired_signing, expired_received);
    if (expired_signing) {
        cs_count(s, CS_ddb_expired_signing);
        return cs_reply_ddb_error(c, 400, "ExpiredTokenException", "The security token included in the request is expired");
    }
    cs_count(s, CS_ddb_ok);
    return cs_forward(c, r, len);
}

static int cs_handle(cs_conn *c, size_t len)
{
    cs_request r;
    cs_count(c->s, CS_requests);
    int rc;
    if (cs_parse_request(c, len, &r) != 0) rc = -1;
    else if (strncmp(r.path, "/latest/", 8) == 0) rc = cs_imds(c, &r);
    else if (strncmp(r.path, "/container", 10) == 0) rc = cs_container(c, &r);
    else if (strcmp(r.method, "POST") == 0 && r.body_len > 7 && strstr(r.body, "Action=") == r.body) rc = cs_sts(c, &r);
    else if (strcmp(r.method, "POST") == 0 && c->s->o.upstream_port) rc = cs_ddb(c, &r, len);
    else rc = cs_reply(c, 404, "text/plain", NULL, "Not Found");
    cs_write_stats(c->s);
    return rc;
}

/* --- options and main --- */

static int cs_usage(const char *what, const char *arg)
{
    fprintf(stderr, "credserver: %s %s\nsee the comment at the top of tests/tools/credserver.c\n", what, arg ? arg : "");
    return -1;
}

static int cs_option(cs_options *o, const char *name, const char *v)
{
    long n;
    if (strcmp(name, "--upstream") == 0 && tn_parse_long(v, 1, 65535, &n) == 0) o->upstream_port = (int)n;
    else if (strcmp(name, "--expiry") == 0 && tn_parse_long(v, 1, 86400, &o->expiry_s) == 0) {}
    else if (strcmp(name, "--issue-delay-ms") == 0 && tn_parse_long(v, 0, 60000, &o->issue_delay_ms) == 0) {}
    else if (strcmp(name, "--fail-after") == 0 && tn_parse_long(v, 0, 1000000, &o->fail_after) == 0) {}
    else if (strcmp(name, "--clock-offset") == 0 && tn_parse_long(v, -86400, 86400, &o->clock_offset_s) == 0) {}
    else if (strcmp(name, "--seconds") == 0 && tn_parse_long(v, 1, 86400, &o->seconds) == 0) {}
    else if (strcmp(name, "--role") == 0) o->role = v;
    else if (strcmp(name, "--container-token") == 0) o->container_token = v;
    else if (strcmp(name, "--web-token") == 0) o->web_token = v;
    else if (strcmp(name, "--stats") == 0) o->stats_path = v;
    else if (strcmp(name, "--log") == 0) o->log_path = v;
    else if (strcmp(name, "--static") == 0 && o->static_count < CS_MAX_STATIC && strchr(v, ':')) {
        cs_key *k = &o->statics[o->static_count++];
        snprintf(k->id, sizeof k->id, "%.*s", (int)(strchr(v, ':') - v), v);
        snprintf(k->secret, sizeof k->secret, "%s", strchr(v, ':') + 1);
    } else if (strcmp(name, "--fail") == 0) {
        for (o->fail = 0; CS_FAIL_NAMES[o->fail] && strcmp(CS_FAIL_NAMES[o->fail], v) != 0; o->fail++) {}
        if (!CS_FAIL_NAMES[o->fail]) return cs_usage("unknown --fail", v);
    } else {
        return cs_usage("bad option or value:", name);
    }
    return 0;
}

static int cs_options_parse(int argc, char **argv, cs_options *o)
{
    memset(o, 0, sizeof *o);
    o->expiry_s = 4, o->issue_delay_ms = 100, o->seconds = 600, o->role = "ddbrun-role";
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc) return cs_usage("missing a value after", argv[i]);
        if (cs_option(o, argv[i], argv[i + 1]) != 0) return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static cs_server s;   /* large (the issued keys); one per process */
    s.listen_fd = s.stop_pipe[0] = s.stop_pipe[1] = -1;
    if (cs_options_parse(argc, argv, &s.o) != 0) return 2;
    if (s.o.log_path && !(s.log = fopen(s.o.log_path, "a"))) {
        perror("credserver: the log");
        return 1;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    int port = tn_listen_loopback(&s.listen_fd, "credserver");
    if (port < 0 || pipe(s.stop_pipe) != 0) return 1;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.idle, NULL);
    cs_write_stats(&s);
    pthread_t acceptor;
    int rc = 1;
    if (pthread_create(&acceptor, NULL, cs_accept_main, &s) == 0) {
        printf("PORT %d PID %ld\n", port, (long)getpid());
        fflush(stdout);
        tn_wait_for_stop(&signals, s.o.seconds);
        close(s.stop_pipe[1]);
        s.stop_pipe[1] = -1;
        pthread_join(acceptor, NULL);
        tn_drain(&s.lock, &s.idle, &s.active, "credserver");
        rc = cs_write_stats(&s);
    }
    close(s.listen_fd);
    close(s.stop_pipe[0]);
    if (s.log) fclose(s.log);
    return rc;
}
