/* The small HTTP requests of the credential sources (instance metadata,
 * container endpoint, STS): one libcurl handle per request, since they are
 * rare. Metadata and container requests never go through a proxy. */
#ifndef DDBRUN_CREDS_HTTP_H
#define DDBRUN_CREDS_HTTP_H

#include <stddef.h>

typedef struct creds_http_request {
    const char *method;              /* "GET", "PUT", "POST" */
    const char *url;
    const char *const *headers;      /* "Name: value" lines */
    size_t header_count;
    const char *body;                /* NULL: none */
    long timeout_ms;                 /* connect and whole transfer */
    int no_proxy;                    /* 1: never through HTTP(S)_PROXY */
    const char *ca_bundle;           /* "" or NULL: the system store */
} creds_http_request;

typedef struct creds_http_response {
    long status;
    char *body;                      /* NUL-terminated, owned; wiped by _free */
    size_t len;
    long long date_ms;               /* the answer's Date header, 0 = none */
    int timed_out;                   /* after -1: the timeout ran out */
} creds_http_response;

/* Sends r. Returns 0 with *resp filled (any status; free it), or -1 with err
 * saying what failed at the transport level (no body to free; resp->timed_out
 * then says whether it was the timeout). */
int creds_http_send(const creds_http_request *r, creds_http_response *resp, char *err, size_t errlen);

/* Wipes and frees the body (it may hold credentials). */
void creds_http_response_free(creds_http_response *resp);

#endif
