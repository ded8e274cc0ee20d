/* The Records table: AccountId (S, partition key), RunTime (S, ISO-8601 UTC,
 * sort key), Processed (N, 0 or 1) keyed with RunTime in the GSI "Processed".
 * Items are jansson objects in DynamoDB's typed form ({"AccountId":{"S":..}}).
 * No Lua; usable from any thread with that thread's own client. */
#ifndef DDBRUN_RECORD_H
#define DDBRUN_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "client.h"
#include "record_layout.h"

typedef struct record_table {
    char table[256];
    char index[256];        /* the index asked for (RECORDS_INDEX) */
    int index_explicit;     /* set by the user, so it must exist */
    int shards;             /* RECORDS_SHARDS, -1 when unset */
    int discovered;         /* layout holds what the table says */
    record_layout layout;
} record_table;

#define RECORD_DEFAULT_TABLE "Records"
#define RECORD_DEFAULT_INDEX "Processed"
/* DynamoDB's own limits */
#define RECORD_MAX_PARTITION_KEY 2048
#define RECORD_MAX_SORT_KEY 1024
#define RECORD_MAX_ITEM_BYTES (400 * 1024)

/* Names from RECORDS_TABLE / RECORDS_INDEX and the shard count from
 * RECORDS_SHARDS in the environment, else the defaults; not yet discovered. */
int record_table_from_env(record_table *t, char *err, size_t errlen);

/* Reads the layout from the table (DescribeTable) unless t already has it.
 * Returns 0, or -1 with a LayoutError (or the DescribeTable error). */
int record_table_discover(ddb_client *c, record_table *t, ddb_error *err);

/* The index queries read: the discovered one, else the one asked for. */
const char *record_table_index(const record_table *t);

/* True for "YYYY-MM-DDTHH:MM:SS[.fraction]Z" with a real calendar date. */
bool record_is_iso8601(const char *s);

/* Checks an item before it is written: AccountId and RunTime present strings
 * within the key limits, RunTime ISO-8601, Processed 0 or 1 when present
 * (required when require_processed), whole item under 400 KB. Returns 0 or -1
 * with the field named in err. */
int record_validate_item(const json_t *item, bool require_processed, char *err, size_t errlen);

/* A record's key as bytes with lengths: DynamoDB keys may hold U+0000, so a
 * C string would address another record. The bytes are borrowed. */
typedef struct record_key {
    const char *account_id;
    size_t account_id_len;
    const char *run_time;
    size_t run_time_len;
} record_key;

int record_validate_key(const record_key *key, char *err, size_t errlen);

/* The string values of AccountId and RunTime of an item (NULL when absent),
 * borrowed from item, with their lengths in *len (len may be NULL). */
const char *record_account_id(const json_t *item, size_t *len);
const char *record_run_time(const json_t *item, size_t *len);

/* Fills key from item. Returns 0, or -1 when AccountId or RunTime is not a string. */
int record_key_of(const json_t *item, record_key *key);

/* Writes an item (PutItem); item is borrowed. */
int record_put(ddb_client *c, const record_table *t, const json_t *item, ddb_error *err);

/* GetItem (consistent read); *item is a new reference the caller owns, or
 * NULL when there is none. */
int record_get(ddb_client *c, const record_table *t, const record_key *key, json_t **item, ddb_error *err);

int record_delete(ddb_client *c, const record_table *t, const record_key *key, ddb_error *err);

/* Processed values. RECORD_PARKED is written only by the processor (past
 * max_failures) and by nobody else: put_item accepts 0 and 1. */
#define RECORD_UNPROCESSED 0
#define RECORD_PROCESSED 1
#define RECORD_PARKED 2

typedef enum {
    RECORD_QUERY_UNPROCESSED, RECORD_QUERY_PROCESSED, RECORD_QUERY_ACCOUNT, RECORD_QUERY_PARKED
} record_query_kind;

typedef struct record_query {
    record_query_kind kind;
    const char *account_id;      /* RECORD_QUERY_ACCOUNT, account_id_len bytes */
    size_t account_id_len;
    const char *from, *to;       /* optional RunTime bounds (inclusive), NULL for none */
    int limit;                   /* items per page, 0 for DynamoDB's 1 MB pages */
    const retry_policy *policy;  /* NULL: the client's own */
    int shard;                   /* on a sharded index: the shard read (0..shards-1) */
} record_query;

/* One page of a query (of one shard, q->shard, on a sharded layout). start_key is the previous page's *last_key (NULL for
 * the first). On success *items is the Items array and *last_key the
 * LastEvaluatedKey (NULL on the last page); both are new references. */
int record_query_page(ddb_client *c, const record_table *t, const record_query *q,
                      const json_t *start_key, json_t **items, json_t **last_key, ddb_error *err);

typedef enum { RECORD_MARKED = 1, RECORD_NOT_MARKED = 0, RECORD_FAILED = -1 } record_mark_result;

/* Sets Processed = 1 on a record that exists with Processed = 0. NOT_MARKED
 * when the condition fails: it was already processed or is missing. policy as
 * for ddb_client_call. */
record_mark_result record_mark_processed(ddb_client *c, const record_table *t, const record_key *key,
                                         const retry_policy *policy, ddb_error *err);

/* After a failed callback on an unprocessed record whose Failures attribute
 * was failures_seen (0 when absent): sets Failures = failures_seen + 1 and
 * LastError = message (cut to 1000 bytes), and parks the record (Processed =
 * 2) when the new count reaches max_failures (> 0). NOT_MARKED when the
 * record changed meanwhile (processed, parked or counted by someone else);
 * *parked says whether this write parked it. */
record_mark_result record_note_failure(ddb_client *c, const record_table *t, const record_key *key,
                                       long failures_seen, long max_failures, const char *message, int *parked,
                                       const retry_policy *policy, ddb_error *err);

/* The pieces of record_mark_processed, for the processor's asynchronous
 * marks: the UpdateItem body, written into buf when it fits (the common
 * case: nothing to escape), else malloc'd into *heap (the caller frees it).
 * Returns the length, or -1 when out of memory. */
int record_mark_body(const record_table *t, const record_key *key, char *buf, size_t size, char **heap);
/* The mark's result from the call's rc (0 or -1 with err, whose uncertain
 * flag says an earlier attempt may have been applied). */
record_mark_result record_mark_outcome(int rc, const ddb_error *err);

/* Puts a parked record back to unprocessed (Processed = 0, Failures and
 * LastError removed). NOT_MARKED when it is not parked or missing. */
record_mark_result record_requeue(ddb_client *c, const record_table *t, const record_key *key, ddb_error *err);

/* The Failures attribute of an item, 0 when absent. */
long record_failures(const json_t *item);

#endif
