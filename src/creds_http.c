#include "creds_http.h"
#include "creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "version.h"

/* Credential answers are small: anything larger is refused. */
#define CREDS_HTTP_MAX_BODY (1024 * 1024)

typedef struct creds_http_sink {
    creds_http_response *resp;
    size_t cap;
    int too_big;
} creds_http_sink;

static size_t creds_http_on_body(char *data, size_t size, size_t n, void *ud)
{
    creds_http_sink *s = ud;
    size_t add = size * n;
    creds_http_response *r = s->resp;
    if (r->len + add + 1 > CREDS_HTTP_MAX_BODY) {
        s->too_big = 1;
        return 0;
    }
    if (r->len + add + 1 > s->cap) {
        size_t cap = (r->len + add + 1) * 2;
        char *bigger = malloc(cap);
        if (!bigger) return 0;
        if (r->body) {
            memcpy(bigger, r->body, r->len);
            OPENSSL_cleanse(r->body, r->len);
            free(r->body);
        }
        r->body = bigger;
        s->cap = cap;
    }
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static int creds_http_setup(CURL *h, const creds_http_request *r, struct curl_slist *headers,
                            creds_http_sink *sink, char *curl_error)
{
    int failed = curl_easy_setopt(h, CURLOPT_URL, r->url)
        || curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)
        || curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error)
        || curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, creds_http_on_body)
        || curl_easy_setopt(h, CURLOPT_WRITEDATA, sink)
        || curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms)
        || curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms)
        || curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
        || curl_easy_setopt(h, CURLOPT_USERAGENT, "ddbrun/" DDBRUN_VERSION)
        || curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers)
        || curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method)
        || (r->no_proxy && curl_easy_setopt(h, CURLOPT_NOPROXY, "*"))
        || (r->ca_bundle && *r->ca_bundle && curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_bundle));
    if (!failed && r->body)
        failed = curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body)
              || curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    else if (!failed && strcmp(r->method, "PUT") == 0)
        failed = curl_easy_setopt(h, CURLOPT_POSTFIELDS, "")   /* an empty body with Content-Length: 0 */
              || curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    return failed ? -1 : 0;
}

int creds_http_send(const creds_http_request *r, creds_http_response *resp, char *err, size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    creds_http_sink sink = { resp, 0, 0 };
    char curl_error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    CURL *h = curl_easy_init();
    int rc = -1;
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->header_count; i++) {
        struct curl_slist *more = curl_slist_append(headers, r->headers[i]);
        if (!more) {
            snprintf(err, errlen, "out of memory");
            goto cleanup;
        }
        headers = more;
    }
    if (!(headers = curl_slist_append(headers, "Expect:")) || creds_http_setup(h, r, headers, &sink, curl_error) != 0) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    CURLcode code = curl_easy_perform(h);
    if (code != CURLE_OK) {
        snprintf(err, errlen, "%s", sink.too_big ? "the answer is larger than 1 MB"
                 : curl_error[0] ? curl_error : curl_easy_strerror(code));
        creds_http_response_free(resp);
        resp->timed_out = code == CURLE_OPERATION_TIMEDOUT;
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    struct curl_header *date;
    if (curl_easy_header(h, "Date", 0, CURLH_HEADER, -1, &date) == CURLHE_OK &&
        creds_parse_http_date(date->value, &resp->date_ms) != 0)
        resp->date_ms = 0;
    if (!resp->body && !(resp->body = calloc(1, 1))) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    rc = 0;
cleanup:
    for (struct curl_slist *l = headers; l; l = l->next) OPENSSL_cleanse(l->data, strlen(l->data));   /* tokens */
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return rc;
}

void creds_http_response_free(creds_http_response *resp)
{
    if (resp->body) OPENSSL_cleanse(resp->body, resp->len);
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}
