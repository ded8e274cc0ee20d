/* Coordination of many processes on one Records table: leases on portions of
 * the work (hash slots of the record key), kept alive by heartbeats, with
 * expiry judged only on the observer's monotonic clock (as the Kinesis Client
 * Library does). No machine's wall clock is ever compared with another's.
 *
 * The leases live in the Records table itself, under the reserved AccountId
 * LEASE_ACCOUNT (never in the Processed index: those items have no Processed
 * attribute). RunTime "protocol" holds the protocol version and the number of
 * portions; "lease#NN" one lease (Owner, Counter, Swept); "member#<owner>"
 * one running process (Counter).
 *
 * Rules:
 * - Every change of a lease item increments its Counter; a take is
 *   conditional on the Counter the taker observed.
 * - The owner heartbeats each lease every lease_ms/3; a lease is valid for its
 *   owner until (send time of its last successful heartbeat or take) +
 *   lease_ms - margin, on the owner's monotonic clock.
 * - Another process may take a lease only after observing its Counter
 *   unchanged for lease_ms on its own monotonic clock. Since the Counter it
 *   observed was written after the owner's send time, the owner's validity
 *   always ends before such a take.
 * - Balance: every process aims at ceil(portions / live members); one above
 *   it sheds its excess (stops taking records of them, hands each back once
 *   its records in flight are done); one below takes free or expired leases.
 * - The fencing token of a portion is its Counter: it only grows, and a new
 *   owner's is always larger than any the previous owner saw.
 *
 * One thread (started by lease_start) owns the lease client and all writes;
 * every lease_* function is safe from any thread (one lock guards the state). */
#ifndef DDBRUN_LEASE_H
#define DDBRUN_LEASE_H

#include <stdatomic.h>
#include <jansson.h>

#include "client.h"
#include "record.h"

#define LEASE_ACCOUNT "ddbrun#coordination"
#define LEASE_RESERVED_PREFIX "ddbrun#"
#define LEASE_PROTOCOL_VERSION 2
#define LEASE_DEFAULT_PORTIONS 32
#define LEASE_MAX_PORTIONS 1024
#define LEASE_OWNER_MAX 128

typedef struct lease_set lease_set;

typedef struct lease_stats {
    double wcu, rcu;        /* consumed by the lease thread (heartbeats, takes, reads) */
    long heartbeats, takes, takeovers, losses, releases;
} lease_stats;

/* Reads (or creates) the protocol item, registers this process, takes its
 * first leases and starts the heartbeat thread. The table's other items are
 * not touched. Returns NULL with err set when the table uses another protocol
 * or cannot be reached. */
lease_set *lease_start(const ddb_config *cfg, const record_table *t, long lease_ms, ddb_error *err);

/* Stops the heartbeat thread and hands back every lease still held (the
 * caller guarantees nothing is in flight), then removes the member item and
 * frees l. NULL is fine. */
void lease_stop(lease_set *l);

/* lease_stop without the freeing: every later lease_begin and lease_check
 * refuses. For a process about to exit with callbacks still running. */
void lease_release_all(lease_set *l);

/* Like lease_stop without any write: the leases lapse as if the process had
 * died (for tests and for a drain that timed out with callbacks running). */
void lease_abandon(lease_set *l);

int lease_portions(const lease_set *l);
/* How many portions this process holds now (those being handed back included). */
int lease_held_count(lease_set *l);
const char *lease_owner(const lease_set *l);

/* The portion of a record key: FNV-1a 64 over AccountId, one 0xFF byte and
 * RunTime, modulo the number of portions (the sharded layout's shard hash,
 * so that on a sharded table portions and shards can coincide). */
int lease_portion_of(int portions, const record_key *key);

/* --- the producer --- */

typedef enum {
    LEASE_MINE,        /* in this pass: queue the record */
    LEASE_MINE_DONE,   /* held, and passed over (a leftover: it failed) or in another pass */
    LEASE_BUSY,        /* not finished: another process holds it, it is free, or we took it
                          during this pass (the next pass queues it) */
    LEASE_DONE,        /* its (live) owner finished a pass over it: what is left failed there */
} lease_class;

/* Starts a pass over the index for the portions held and not yet in a pass
 * or passed over; returns its id. A pass may run inside another: portions
 * taken while a long pass runs get a pass of their own at once. */
unsigned lease_pass_begin(lease_set *l);
/* How many held portions wait for a pass (taken since the last began). */
int lease_pass_pending(lease_set *l);
/* Classifies a record's portion for pass `pass`. */
lease_class lease_classify(lease_set *l, unsigned pass, int portion);
/* Counts a record of a held portion as queued; 0 when the portion is no
 * longer ours (do not queue it). */
int lease_enqueue(lease_set *l, int portion);
/* Ends pass `pass`: its portions, held throughout, are passed over. An outer
 * pass (not a take-over pass inside one) also sends through another pass any
 * portion in which it found more records left than failed here. */
void lease_pass_end(lease_set *l, unsigned pass, int outer);
/* A record of the portion ended unprocessed here (failed, or its mark refused). */
void lease_record_failed(lease_set *l, int portion);
/* Waits until no record queued with lease_enqueue is left in flight, or *stop. */
void lease_wait_drained(lease_set *l, atomic_int *stop);
/* Waits until the heartbeat thread has run `ticks` more rounds, or *stop. */
void lease_wait_ticks(lease_set *l, int ticks, atomic_int *stop);

/* --- the workers --- */

/* Before a callback starts: 1 when the portion's lease is held, not being
 * handed back, and valid now with the safety margin; *token is its fencing
 * token. 0 otherwise: drop the record (call lease_end). A lease still held
 * whose validity ran out (a slow heartbeat) is waited for, at most two lease
 * periods, until a heartbeat renews it or finds it lost. */
int lease_begin(lease_set *l, int portion, long long *token);
/* Right before a mark is sent: 1 while the lease is still valid (waiting as
 * lease_begin does). */
int lease_check(lease_set *l, int portion);
/* The record queued with lease_enqueue is finished (marked, failed or dropped). */
void lease_end(lease_set *l, int portion);

void lease_get_stats(lease_set *l, lease_stats *s);

/* The message for an item written by the older per-record lease protocol
 * (LeaseOwner/LeaseExpires), or NULL. */
int lease_foreign_item(const json_t *item, const char *table, char *msg, size_t msglen);

/* 32 hex digits from getrandom (128 bits) into out (>= 33 bytes); -1 on failure. */
int lease_random_id(char *out, size_t size);

#endif
