/* Asynchronous marks: a worker whose callback succeeded hands the record's
 * key to marker_submit and goes on with the next record; one marker thread
 * sends the conditional UpdateItems, up to `concurrency` at once over a curl
 * multi handle (one kept-alive connection each), retries them with the
 * processor's back-off, and reports each final outcome through on_done.
 * A mark waiting out a back-off counts among the `concurrency`, so back-offs
 * slow the marks down as they slow a worker down. The marks share the
 * process's limits with every client made from the same config (cfg.cap,
 * cfg.throttle: the retry quota and the adaptive limiter), taken as
 * ddb_client_call takes them.
 *
 * Bound: at most `capacity` marks are pending (queued, in flight or waiting
 * out a back-off); marker_submit blocks while that many are. No Lua. */
#ifndef DDBRUN_MARKER_H
#define DDBRUN_MARKER_H

#include <stddef.h>

#include "client.h"
#include "record.h"
#include "retry.h"

typedef struct marker marker;

typedef struct marker_settings {
    const record_table *table;   /* borrowed; outlives the marker */
    retry_policy policy;         /* attempts and back-off of each mark */
    int concurrency;             /* UpdateItems in flight at most (>= 1) */
    int capacity;                /* pending marks at most (>= concurrency) */
    /* Called on the marker thread right before each attempt is sent: 1 to
     * send it, 0 to give the mark up (it is then reported NOT_MARKED with
     * the reason in err). NULL: always send. */
    int (*may_send)(void *ud, const record_key *key, ddb_error *err);
    /* Called on the marker thread once per submitted mark with its final
     * result; err is set unless r is RECORD_MARKED. */
    void (*on_done)(void *ud, const record_key *key, record_mark_result r, const ddb_error *err);
    /* Called on the marker thread as it ends, after the last on_done (NULL: none). */
    void (*on_end)(void *ud);
    void *ud;
} marker_settings;

/* Starts the marker thread. s is copied; cfg is copied into the marker's
 * signing client. Returns NULL with err set. */
marker *marker_start(const marker_settings *s, const ddb_config *cfg, ddb_error *err);

/* Queues a mark (the key's bytes are copied); blocks while `capacity` marks
 * are pending. Returns 0, or -1 with err set when out of memory (nothing
 * queued). Safe from any thread until marker_close. */
int marker_submit(marker *m, const record_key *key, ddb_error *err);

/* No more submissions: the thread sends what is pending and then ends. */
void marker_close(marker *m);

/* True once the thread has ended: every submitted mark was reported. */
int marker_drained(marker *m);

/* The ConsumedCapacity the marks consumed (ddb_client_consumed of the
 * marker's client); read it once marker_drained says the thread ended. */
void marker_consumed(const marker *m, double *wcu, double *rcu);

/* Closes m when that was not done, waits until every pending mark has been
 * reported, then frees it. NULL is fine. */
void marker_finish(marker *m);

#endif
