#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define HTTP_MAX_HEADERS 16
/* Header lines get this much room, so the next request's lines (a new date,
 * signature, target) fit in the same storage. */
#define HTTP_HEADER_ROOM 96

struct http_conn {
    CURL *curl;
    char *body;
    size_t len, cap;
    int out_of_memory;
    char *url;                /* the URL set on the handle, owned */
    int requests_sent;        /* times this transfer was about to send the request */
    http_response *resp;      /* the response being filled by the callbacks */
    char curl_error[CURL_ERROR_SIZE];
    struct curl_slist *headers;      /* kept between requests, rewritten in place */
    size_t header_count;
    size_t header_room[HTTP_MAX_HEADERS];   /* bytes each line's storage can hold */
};

/* Bodies above this are not kept between requests, so one large page does
 * not pin memory for the thread's lifetime. */
#define HTTP_KEEP_BUFFER (256 * 1024)

static int http_reserve(http_conn *c, size_t need)
{
    if (need <= c->cap) return 0;
    size_t cap = c->cap ? c->cap : 16384;
    while (cap < need) cap *= 2;
    char *bigger = realloc(c->body, cap);
    if (!bigger) {
        c->out_of_memory = 1;
        return -1;
    }
    c->body = bigger;
    c->cap = cap;
    return 0;
}

static size_t http_on_body(char *data, size_t size, size_t n, void *ud)
{
    http_conn *c = ud;
    size_t add = size * n;
    if (http_reserve(c, c->len + add + 1) != 0) return 0;  /* curl fails with CURLE_WRITE_ERROR */
    memcpy(c->body + c->len, data, add);
    c->len += add;
    return add;
}

/* Copies header `name`'s value (trimmed) into out if line is that header. */
static int http_header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0) return 0;
    const char *v = line + nlen + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    size_t vlen = (size_t)(end - v) < size - 1 ? (size_t)(end - v) : size - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return 1;
}

static size_t http_on_header(char *line, size_t size, size_t n, void *ud)
{
    http_conn *c = ud;
    size_t len = size * n;
    char crc[32];
    if (http_header_value(line, len, "x-amzn-RequestId", c->resp->request_id, sizeof c->resp->request_id))
        return len;
    if (http_header_value(line, len, "Date", c->resp->date, sizeof c->resp->date))
        return len;
    if (http_header_value(line, len, "x-amz-crc32", crc, sizeof crc)) {
        char *end;
        c->resp->crc32 = strtoul(crc, &end, 10);
        c->resp->has_crc32 = end != crc && *end == '\0';
    }
    return len;
}

/* curl reads the proxy variables on every transfer; when none is set, say
 * so once (an empty proxy disables the look-up), else leave curl to it. */
static int http_no_proxy_in_env(void)
{
    static const char *const names[] = { "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return 0;
    }
    return 1;
}

/* curl calls this right before it sends a request on a new or reused
 * connection: more than once in a transfer means it re-sent the request on
 * a new connection after the kept-alive one died unanswered. (Counted per
 * transfer, so it holds when a multi handle shares connections between
 * handles; no CURLOPT_VERBOSE needed.) */
static int http_on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    http_conn *c = ud;
    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    c->requests_sent++;
    return CURL_PREREQFUNC_OK;
}

http_conn *http_conn_new(const char *ca_bundle, long connect_timeout_ms, long request_timeout_ms)
{
    http_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->curl = curl_easy_init())) {
        free(c);
        return NULL;
    }
    CURL *h = c->curl;
    int failed = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)
        || curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error)
        || curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_body)
        || curl_easy_setopt(h, CURLOPT_WRITEDATA, c)
        || curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_header)
        || curl_easy_setopt(h, CURLOPT_HEADERDATA, c)
        || curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, http_on_prereq)
        || curl_easy_setopt(h, CURLOPT_PREREQDATA, c)
        || curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms)
        || curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, request_timeout_ms)
        || curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L)
        || curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L)
        || curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
        || (ca_bundle && *ca_bundle && curl_easy_setopt(h, CURLOPT_CAINFO, ca_bundle))
        || (http_no_proxy_in_env() && (curl_easy_setopt(h, CURLOPT_PROXY, "")
                                  || curl_easy_setopt(h, CURLOPT_NOPROXY, "")));
    if (failed) {
        http_conn_free(c);
        return NULL;
    }
    return c;
}

void http_conn_free(http_conn *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->body);
    free(c);
}

static const char *http_transport_code(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return "UnknownHost";
    case CURLE_COULDNT_CONNECT: return "ConnectionError";
    case CURLE_OPERATION_TIMEDOUT: return "TimeoutError";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER: return "TlsError";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return "ConnectionReset";
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR: return "OutOfMemory";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return "InvalidEndpoint";
    default: return "NetworkError";
    }
}

static void http_fail_with(http_conn *c, CURLcode rc, const char *url, http_error *err)
{
    snprintf(err->code, sizeof err->code, "%s", c->out_of_memory ? "OutOfMemory" : http_transport_code(rc));
    snprintf(err->message, sizeof err->message, "%s: %s", url,
             c->out_of_memory ? "out of memory reading the response"
             : c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc));
}

static void http_trim_buffer(http_conn *c)
{
    if (c->cap <= HTTP_KEEP_BUFFER) return;
    free(c->body);
    c->body = NULL;
    c->cap = 0;
}

/* Copies the lines into the kept header list when they fit its storage,
 * else builds a new list (about one malloc per line saved per request). */
static int http_set_headers(http_conn *c, const char *const *lines, size_t n)
{
    int fits = c->headers && n == c->header_count;
    for (size_t i = 0; fits && i < n; i++) fits = strlen(lines[i]) <= c->header_room[i];
    if (fits) {
        size_t i = 0;
        for (struct curl_slist *node = c->headers; node; node = node->next, i++) strcpy(node->data, lines[i]);
        return 0;
    }
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    c->header_count = 0;
    if (n > HTTP_MAX_HEADERS) return -1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(lines[i]), room = len > HTTP_HEADER_ROOM ? len : HTTP_HEADER_ROOM;
        char padded[4300];
        if (room >= sizeof padded) room = len;   /* too long to pad: exact size */
        if (room >= sizeof padded) return -1;
        /* curl copies the string: pad it so the copy has room for later lines */
        memset(padded, ' ', room);
        padded[room] = '\0';
        struct curl_slist *more = curl_slist_append(c->headers, padded);
        if (!more) return -1;
        c->headers = more;
        c->header_room[i] = room;
    }
    c->header_count = n;
    return http_set_headers(c, lines, n);
}

int http_begin(http_conn *c, const char *url, const char *const *headers, size_t header_count,
               const char *body, size_t body_len, http_response *resp, http_error *err)
{
    if (http_set_headers(c, headers, header_count) != 0) {
        snprintf(err->code, sizeof err->code, "OutOfMemory");
        snprintf(err->message, sizeof err->message, "%s: out of memory building the request", url);
        return -1;
    }
    http_trim_buffer(c);
    memset(resp, 0, sizeof *resp);
    c->len = 0;
    c->out_of_memory = 0;
    c->requests_sent = 0;
    c->curl_error[0] = '\0';
    c->resp = resp;
    CURL *h = c->curl;
    /* curl parses the URL again whenever it is set: only when it changes */
    if (!c->url || strcmp(c->url, url) != 0) {
        char *copy = strdup(url);
        if (!copy || curl_easy_setopt(h, CURLOPT_URL, copy) != CURLE_OK) {
            free(copy);
            snprintf(err->code, sizeof err->code, "OutOfMemory");
            snprintf(err->message, sizeof err->message, "%s: out of memory building the request", url);
            return -1;
        }
        free(c->url);
        c->url = copy;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    return 0;
}

CURL *http_handle(http_conn *c)
{
    return c->curl;
}

int http_end(http_conn *c, CURLcode rc, http_response *resp, http_error *err)
{
    CURL *h = c->curl;
    const char *url = c->url;
    c->resp = NULL;
    if (rc != CURLE_OK) {
        http_fail_with(c, rc, url, err);
        return -1;
    }
    /* When a kept-alive connection dies before the answer, curl sends the
     * request again by itself (see http_on_prereq). */
    resp->maybe_resent = c->requests_sent > 1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (http_reserve(c, c->len + 1) != 0) {
        http_fail_with(c, CURLE_OUT_OF_MEMORY, url, err);
        return -1;
    }
    c->body[c->len] = '\0';
    resp->body = c->body;
    resp->body_len = c->len;
    return 0;
}
