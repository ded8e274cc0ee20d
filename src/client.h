/* The DynamoDB client in C: signs, sends, checks and retries JSON 1.0 calls.
 * A ddb_client is owned by one thread at a time (it holds one kept-alive
 * connection); build one per thread from a shared ddb_config. No Lua. */
#ifndef DDBRUN_CLIENT_H
#define DDBRUN_CLIENT_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "http.h"
#include "retry.h"

typedef struct ddb_error {
    char code[64];        /* "ConditionalCheckFailedException", "ConnectionError", ... */
    char message[1024];   /* never contains a secret */
    long status;          /* HTTP status, 0 for transport failures */
    int retryable;
    char request_id[128];
    int attempts;         /* attempts made, including the failing one */
    int uncertain;        /* an earlier send may have been applied (reset, timeout, 5xx,
                             or curl's own re-send on a reconnect) */
    int quota_empty;      /* not retried: the shared retry quota could not pay for it */
} ddb_error;

typedef struct ddb_client ddb_client;

/* A client for cfg (copied). Returns NULL with err filled when cfg cannot sign
 * requests or memory runs out. */
ddb_client *ddb_client_new(const ddb_config *cfg, ddb_error *err);
/* Closes the connection and wipes the copied secrets; NULL is fine. */
void ddb_client_free(ddb_client *c);

const ddb_config *ddb_client_config(const ddb_client *c);

/* The credential source in use ("environment", "instance metadata ROLE")
 * and their expiry (Unix ms, 0: none), resolving them first when needed (the
 * network may be asked). Returns 0, or -1 with err (CredentialsError). */
int ddb_client_credentials(ddb_client *c, char *source, size_t size, long long *expiration_ms, ddb_error *err);

/* Calls operation op ("PutItem") with a JSON body, retrying retryable errors
 * under policy (NULL: the client's own) while the config's shared retry quota
 * pays for the retries (see throttle.h); adaptive mode and a cap may make it
 * wait before sending. Credentials come from the config's cache before every
 * attempt; an answer that the signature's clock is skewed corrects the
 * signing clock from the answer's Date and is retried once. On success
 * returns 0 and, when out
 * is not NULL, sets *out to the parsed response (a new reference the caller
 * owns). On failure returns -1 with err filled. */
int ddb_client_call(ddb_client *c, const char *op, const char *body, size_t body_len,
                    const retry_policy *policy, json_t **out, ddb_error *err);

/* The same with a JSON request object. */
int ddb_client_call_json(ddb_client *c, const char *op, const json_t *request,
                         const retry_policy *policy, json_t **out, ddb_error *err);

/* The capacity units this client's requests consumed so far, summed from the
 * ConsumedCapacity of responses to requests that asked for it
 * (ReturnConsumedCapacity), plus 1 WCU per failed conditional write, as
 * DynamoDB bills it. Reads: Query, Scan, GetItem, BatchGetItem,
 * TransactGetItems; every other operation counts as a write. */
void ddb_client_consumed(const ddb_client *c, double *wcu, double *rcu);

/* One attempt of ddb_client_call in two halves, for a caller that runs the
 * transfer itself on a curl multi handle (the processor's marker): begin
 * signs op with c's credentials and sets the request up on conn (any
 * http_conn, used by one transfer at a time); body and resp must stay valid
 * until end, which takes the same op and curl's result and checks, parses (when out is not
 * NULL) and classifies the response as ddb_client_call does for one attempt
 * (err->attempts is left to the caller). Both return 0 or -1 with err.
 * The shared limits are the caller's too, as ddb_client_call takes them:
 * cfg.cap and throttle_before_send before begin, throttle_after_response
 * after end, throttle_take_retry before a retry, throttle_success after. */
int ddb_client_begin(ddb_client *c, http_conn *conn, const char *op, const char *body, size_t body_len,
                     http_response *resp, ddb_error *err);
int ddb_client_end(ddb_client *c, http_conn *conn, const char *op, CURLcode result, http_response *resp,
                   json_t **out, ddb_error *err);

/* After a failed attempt: when err says the request's time was too far from
 * the server's (and the answer carried a Date), corrects the signing clock
 * and returns 1: the request is worth sending again, once, without counting
 * an attempt (as ddb_client_call does). */
int ddb_client_correct_clock(ddb_client *c, const ddb_error *err);

/* Whether the server may have applied a request that failed with err (reset,
 * timeout, 5xx, unreadable answer): a later condition failure may be our own. */
int ddb_client_outcome_unknown(const ddb_error *err);

/* For an operation that takes an idempotency token (TransactWriteItems):
 * adds a fresh random ClientRequestToken to request unless the caller set
 * one, so that every attempt of this one logical call carries the same token
 * and DynamoDB applies it at most once. Returns 0, or -1 out of memory or
 * entropy. Other operations: nothing, 0. */
int ddb_client_add_token(const char *op, json_t *request);

/* Fills err as the client does for its own failures (used by callers that
 * detect a problem before sending). */
void ddb_error_set(ddb_error *err, const char *code, int retryable, const char *fmt, ...);

#endif
