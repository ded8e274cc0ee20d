/* The layout of the Records table's Processed index, read from the table
 * itself (DescribeTable), so that every process agrees on it.
 *
 *   unsharded (the seed's):  HASH Processed,                 RANGE RunTime
 *   sharded over N:          HASH Processed + HASH Shard_N,  RANGE RunTime
 *
 * A sharded index uses DynamoDB's multi-attribute GSI keys (Processed stays
 * the number 0/1). The shard attribute's name carries N: DescribeTable has no
 * other place for it (DynamoDB Local has no tags), and a new N needs a new
 * attribute anyway, so two layouts can live side by side during a migration.
 * The shard of a record is record_shard_of(AccountId, RunTime) % N. No Lua. */
#ifndef DDBRUN_RECORD_LAYOUT_H
#define DDBRUN_RECORD_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "client.h"

#define RECORD_LAYOUT_MAX_SHARDS 1024
#define RECORD_LAYOUT_MAX_WRITES 4
#define RECORD_SHARD_PREFIX "Shard_"

typedef struct record_layout {
    char index[256];            /* the index readers query */
    int shards;                 /* 0: unsharded; N: keyed (Processed, shard_attr) */
    char shard_attr[32];        /* "Shard_16" when sharded */
    int write_count;            /* shard attributes every write sets: one per sharded */
    int write_shards[RECORD_LAYOUT_MAX_WRITES];   /* Processed index, in any state */
} record_layout;

/* What the process asks for (RECORDS_INDEX / RECORDS_SHARDS or options). */
typedef struct record_layout_request {
    const char *table;
    const char *index;          /* the index name to read */
    int index_explicit;         /* the name was set by the user: it must exist */
    int shards;                 /* -1: whatever the table has; else it must match */
} record_layout_request;

/* FNV-1a 64 over the bytes of AccountId, one 0xFF byte (never part of
 * UTF-8, so no two keys give the same input) and the bytes of RunTime.
 * Lengths, not C strings: keys may hold NUL bytes. */
uint64_t record_shard_hash(const char *account_id, size_t account_len, const char *run_time, size_t run_len);

/* record_shard_hash(...) % shards; 0 when shards <= 1. */
int record_shard_of(const char *account_id, size_t account_len, const char *run_time, size_t run_len,
                    int shards);

/* Chooses the layout from a DescribeTable "Table" object (borrowed). The
 * index read is req->index when it exists; when it does not and the name was
 * not explicit, the one ACTIVE sharded Processed index under another name (a
 * migrated table). Returns 0, or -1 with code "LayoutError" and a message
 * saying what differs (a missing index, another key, another shard count). */
int record_layout_from_description(const record_layout_request *req, const json_t *table,
                                   record_layout *out, ddb_error *err);

/* DescribeTable, then record_layout_from_description. */
int record_layout_discover(ddb_client *c, const record_layout_request *req, record_layout *out,
                           ddb_error *err);

/* Sets every shard attribute of the layout's writes on item (a typed
 * DynamoDB item with AccountId and RunTime strings). Returns 0 or -1 (out of
 * memory, or no key strings). */
int record_layout_stamp(const record_layout *l, json_t *item);

#endif
