/* HTTP POST over one libcurl easy handle with a kept-alive connection.
 * One http_conn per thread; never shared. */
#ifndef DDBRUN_HTTP_H
#define DDBRUN_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

typedef struct http_conn http_conn;

typedef struct http_response {
    long status;
    const char *body;         /* NUL-terminated; owned by the conn, valid until the next post */
    size_t body_len;
    char request_id[128];     /* x-amzn-RequestId, "" when absent */
    int has_crc32;
    unsigned long crc32;      /* x-amz-crc32 */
    char date[40];            /* the Date header, "" when absent */
    int maybe_resent;         /* curl wrote the request more than once (it re-sends
                                 by itself when a kept-alive connection dies
                                 unanswered): the first copy may have been applied */
} http_response;

typedef struct http_error {
    char code[32];            /* ConnectionError, UnknownHost, TlsError, TimeoutError, ConnectionReset, ... */
    char message[512];
} http_error;

/* ca_bundle may be "" for the system store. Returns NULL when out of memory. */
http_conn *http_conn_new(const char *ca_bundle, long connect_timeout_ms, long request_timeout_ms);
/* Closes the connection and frees the buffers; NULL is fine. */
void http_conn_free(http_conn *c);

/* A POST of body to url with the given "Name: value" header lines, in two
 * halves, so that the caller runs the transfer itself (curl_easy_perform, or
 * a curl multi handle): http_begin sets the request up on c's easy handle
 * (http_handle) without sending it; body and resp must stay valid until
 * http_end, which takes the transfer's result and returns 0 with *resp filled
 * (any HTTP status), or -1 with *err for a transport failure (the message
 * names the url). One transfer per http_conn at a time. */
int http_begin(http_conn *c, const char *url, const char *const *headers, size_t header_count,
               const char *body, size_t body_len, http_response *resp, http_error *err);
CURL *http_handle(http_conn *c);
int http_end(http_conn *c, CURLcode rc, http_response *resp, http_error *err);

#endif
