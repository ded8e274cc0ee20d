/* The DynamoDB client in C: signs, sends, checks and retries JSON 1.0 calls.
 * A ddb_client is owned by one thread at a time (it holds one kept-alive
 * connection); build one per thread from a shared ddb_config. No Lua. */
#ifndef DDBRUN_CLIENT_H
#define DDBRUN_CLIENT_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
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
 * under policy (NULL: the client's own). Credentials come from the config's
 * cache before every attempt; an answer that the signature's clock is skewed
 * corrects the signing clock from the answer's Date and is retried once. On success returns 0 and, when out
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
