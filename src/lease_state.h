/* The lease set's state, shared by lease.c (observation, heartbeats, life
 * cycle) and lease_work.c (the producer's passes and the workers' checks).
 * Private to those two files; everything below lease_set.lock is guarded by it. */
#ifndef DDBRUN_LEASE_STATE_H
#define DDBRUN_LEASE_STATE_H

#include <pthread.h>

#include "lease.h"

typedef struct lease_portion {
    /* ours */
    int held;
    int releasing;              /* shed: no new records; handed back once inflight is 0 */
    long long valid_until_ms;   /* monotonic */
    long long last_beat_ms;     /* monotonic send time of the last heartbeat or take */
    long long token;            /* Counter after our last take or heartbeat */
    unsigned epoch;             /* +1 at every take */
    unsigned pass_epoch;        /* epoch when a pass took it in, or LEASE_NO_EPOCH */
    unsigned pass_id;           /* that pass */
    unsigned done_epoch;        /* epoch whose records were all queued by a finished pass */
    int inflight;               /* records queued or running */
    int failed;                 /* records of this epoch that ended unprocessed here */
    int leftover;               /* records an outer pass found still unprocessed, nothing in flight */
    int swept_published;        /* the Swept value of our last write */
    /* observed */
    int exists;
    char owner[LEASE_OWNER_MAX];
    long long counter;
    long long changed_ms;       /* our monotonic time when counter last changed */
    int swept;
} lease_portion;

typedef struct lease_member {
    char owner[LEASE_OWNER_MAX];
    long long counter, changed_ms;
    int seen;                   /* in the latest observation */
} lease_member;

#define LEASE_NO_EPOCH 0xffffffffu
#define LEASE_MAX_MEMBERS 4096

struct lease_set {
    record_table table;
    long lease_ms, beat_ms, tick_ms, margin_ms;
    int portions;
    unsigned passes;            /* pass ids handed out */
    char owner[LEASE_OWNER_MAX];
    char member_key[LEASE_OWNER_MAX + 16];
    ddb_client *client;          /* used by lease_start, then by the thread only */
    retry_policy policy;
    uint64_t rng;
    pthread_mutex_t lock;        /* guards everything below */
    pthread_cond_t ticked;
    unsigned ticks;
    int stopping;
    pthread_t thread;
    int thread_started;
    lease_portion *p;
    lease_member *members;
    size_t member_count;
    long long member_beat_ms;
    lease_stats stats;
};

/* Milliseconds on the monotonic clock. */
long long lease_now_ms(void);

/* Under the lock: waits until the ticked condition is signalled (a tick, a
 * stop), at most ms. */
void lease_wait_ticked(lease_set *l, long ms);

#endif
