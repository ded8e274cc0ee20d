#include "processor.h"

#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lease.h"
#include "marker.h"
#include "queue.h"

/* --- the run --- */

typedef struct processor_worker {
    processor *p;
    int index;
    void *data;
    ddb_client *client;
    pthread_t thread;
    atomic_long failed;              /* processed and skipped are counted as marks end (processor) */
    atomic_long parked;
    atomic_int busy;                 /* in a callback now */
} processor_worker;

struct processor {
    const processor_options *o;
    record_table table;              /* o->table with its layout read from DescribeTable */
    processor_callback cb;
    const ddb_config *cfg;           /* the marker's client is made from it */
    processor_hooks hooks;           /* all zero when the host gave none */
    queue q;
    retry_policy policy;             /* every DynamoDB call of the run, the GSI query included */
    lease_set *leases;               /* with lease_ms, during processor_run */
    pthread_mutex_t run_lock;        /* guards running_threads and started */
    pthread_cond_t run_changed;      /* signalled when a thread ends or a stop is requested */
    int running_threads;             /* workers, the producer and the marker still running */
    atomic_int workers_running;      /* the last worker out closes the marker */
    marker *marker;                  /* sends the marks of succeeded records (marker.h) */
    atomic_long marked;              /* final mark outcomes, counted on the marker thread */
    atomic_long mark_failed;
    atomic_long mark_skipped;
    double marker_wcu, marker_rcu;   /* the marker client's ConsumedCapacity sums, taken as it ends */
    double started;                  /* monotonic seconds at the start of the run, 0 before */
    atomic_int stop;                 /* processor_stop_reason of the first stop request */
    int ran;
    failures fails;                  /* thread-safe on its own */
    int drain_expired;               /* the run loop gave up waiting for callbacks */
    ddb_client *producer_client;
    pthread_t producer;
    int producer_failed;             /* written by the producer, read after join */
    ddb_error producer_error;        /* likewise */
    processor_worker *workers;
};

static double processor_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void processor_add_ddb_error(processor *p, const record_key *key, const char *what, const ddb_error *err)
{
    char msg[1400];
    snprintf(msg, sizeof msg, "%s: %s: %s", what, err->code, err->message);
    failures_add(&p->fails, key, "dynamodb", msg, err->attempts);
}

/* Runs the callback, again up to callback_retries times while it errors. */
static processor_callback_result processor_run_callback(processor_worker *w, const json_t *item, long long lease,
                                                        char *msg, size_t msglen, int *attempts)
{
    processor *p = w->p;
    processor_callback_result r;
    *attempts = 0;
    atomic_store(&w->busy, 1);
    do {
        ++*attempts;
        msg[0] = '\0';
        r = p->cb(w->data, w->index, item, lease, msg, msglen);
    } while (r == PROCESSOR_CALLBACK_ERROR && *attempts <= p->o->callback_retries && !atomic_load(&p->q.stopping));
    atomic_store(&w->busy, 0);
    return r;
}

/* The one check every write about a record goes through, right before it is
 * sent (the mark path calls it whatever shape it takes): with leases, the
 * record's portion lease must still be valid on this process's monotonic
 * clock, with its safety margin. */
static int processor_write_allowed(processor *p, int portion)
{
    return !p->leases || lease_check(p->leases, portion);
}

/* After a failed callback: with max_failures, counts the failure on the item
 * and parks the record at the limit. */
static void processor_note_failure(processor_worker *w, const json_t *item, const record_key *key, int portion,
                                   const char *msg)
{
    processor *p = w->p;
    if (p->o->max_failures <= 0 || !processor_write_allowed(p, portion))
        return;
    ddb_error err;
    int parked;
    record_mark_result r = record_note_failure(w->client, &p->table, key, record_failures(item),
                                               p->o->max_failures, msg, &parked, &p->policy, &err);
    if (r == RECORD_MARKED && parked)
        w->parked++;
}

/* --- asynchronous marks (marker.c calls these on its thread) --- */

static int processor_portion_of(processor *p, const record_key *key)
{
    return p->leases ? lease_portion_of(lease_portions(p->leases), key) : -1;
}

/* The marker's check, made when a mark is actually sent (not when it was
 * queued): processor_write_allowed on the record's portion. Refused, the
 * mark is given up and reported as a "lease" error. */
static int processor_lease_still_held(void *ud, const record_key *key, ddb_error *err)
{
    processor *p = ud;
    if (processor_write_allowed(p, processor_portion_of(p, key)))
        return 1;
    ddb_error_set(err, "LeaseLost", 0,
                  "the lease on its portion expired before the record was marked; it stays unprocessed");
    return 0;
}

/* A mark's final outcome. The record stayed in flight for its portion until
 * now, so the portion is not handed back while its marks are pending. */
static void processor_mark_done(void *ud, const record_key *key, record_mark_result m, const ddb_error *err)
{
    processor *p = ud;
    int refused = m == RECORD_NOT_MARKED && strcmp(err->code, "LeaseLost") == 0;
    if (m == RECORD_MARKED) {
        atomic_fetch_add(&p->marked, 1);
    } else if (refused) {
        failures_add(&p->fails, key, "lease", err->message, 1);
        atomic_fetch_add(&p->mark_failed, 1);
    } else if (m == RECORD_NOT_MARKED) {
        atomic_fetch_add(&p->mark_skipped, 1);   /* another process marked it first */
    } else {
        processor_add_ddb_error(p, key, "marking processed", err);
        atomic_fetch_add(&p->mark_failed, 1);
    }
    if (!p->leases)
        return;
    int portion = processor_portion_of(p, key);
    if (refused || m == RECORD_FAILED)
        lease_record_failed(p->leases, portion);
    lease_end(p->leases, portion);
}

static void processor_thread_ended(processor *p);

static void processor_marker_ended(void *ud)
{
    processor_thread_ended(ud);
}

static int processor_start_marker(processor *p, ddb_error *err)
{
    marker_settings s = {
        .table = &p->table,
        .policy = p->policy,
        .concurrency = (int)p->o->mark_concurrency,
        .capacity = PROCESSOR_MARKS_PENDING_FACTOR * (int)p->o->mark_concurrency,
        .may_send = processor_lease_still_held,
        .on_done = processor_mark_done,
        .on_end = processor_marker_ended,
        .ud = p,
    };
    p->marker = marker_start(&s, p->cfg, err);
    return p->marker ? 0 : -1;
}

/* What became of a record once its callback returned. */
typedef enum processor_outcome {
    PROCESSOR_HANDED_TO_MARKER,   /* the marker ends the record's lease use (processor_mark_done) */
    PROCESSOR_FAILED,
    PROCESSOR_LEFT,               /* abandoned at a stop: neither failed nor marked */
} processor_outcome;

/* Hands a record whose callback succeeded to the marker; the marker counts
 * the outcome (processor_mark_done) while the worker goes on. */
static processor_outcome processor_mark(processor_worker *w, const record_key *key)
{
    processor *p = w->p;
    ddb_error err;
    if (marker_submit(p->marker, key, &err) == 0)
        return PROCESSOR_HANDED_TO_MARKER;
    processor_add_ddb_error(p, key, "marking processed", &err);
    w->failed++;
    return PROCESSOR_FAILED;
}

/* Called as each worker ends (n at once for workers that never started):
 * the last one tells the marker that no more marks come. */
static void processor_workers_gone(processor *p, int n)
{
    if (atomic_fetch_sub(&p->workers_running, n) == n)
        marker_close(p->marker);
}

static processor_outcome processor_finish(processor_worker *w, const json_t *item, const record_key *key,
                                          int portion, processor_callback_result r, const char *msg, int attempts)
{
    if (r == PROCESSOR_CALLBACK_OK)
        return processor_mark(w, key);
    if (r == PROCESSOR_CALLBACK_ABANDONED)
        return PROCESSOR_LEFT;
    failures_add(&w->p->fails, key, r == PROCESSOR_CALLBACK_TIMEOUT ? "timeout" : "callback", msg, attempts);
    w->failed++;
    processor_note_failure(w, item, key, portion, msg);
    return PROCESSOR_FAILED;
}

static void processor_process_one(processor_worker *w, const json_t *item)
{
    processor *p = w->p;
    record_key key;
    if (record_key_of(item, &key) != 0) {   /* key holds what the item has */
        failures_add(&p->fails, &key, "invalid", "the record has no AccountId or RunTime string", 0);
        w->failed++;
        return;
    }
    int portion = processor_portion_of(p, &key);
    long long token = -1;
    if (p->leases && !lease_begin(p->leases, portion, &token)) {
        lease_end(p->leases, portion);   /* no longer ours: its new owner takes it */
        return;
    }
    char msg[4096];
    int attempts;
    processor_callback_result r = processor_run_callback(w, item, token, msg, sizeof msg, &attempts);
    processor_outcome o = processor_finish(w, item, &key, portion, r, msg, attempts);
    if (o == PROCESSOR_HANDED_TO_MARKER)
        return;   /* processor_mark_done ends it */
    if (p->leases && o == PROCESSOR_FAILED)
        lease_record_failed(p->leases, portion);
    if (p->leases)
        lease_end(p->leases, portion);
}

/* Every thread of the run ends here, so the run loop wakes at once. */
static void processor_thread_ended(processor *p)
{
    pthread_mutex_lock(&p->run_lock);
    p->running_threads--;
    pthread_cond_broadcast(&p->run_changed);
    pthread_mutex_unlock(&p->run_lock);
}

static void *processor_worker_main(void *arg)
{
    processor_worker *w = arg;
    json_t *item;
    while ((item = queue_pop(&w->p->q)) != NULL) {
        processor_process_one(w, item);
        json_decref(item);
    }
    processor_workers_gone(w->p, 1);
    processor_thread_ended(w->p);
    return NULL;
}

/* The pass being read: its id, whether its records go to the front of the
 * queue, and how many records other processes still have to do. */
typedef struct processor_pass {
    unsigned id;
    int front;
    int busy;
} processor_pass;

/* Queues the item (a reference the caller gives up) when it is this pass's
 * to run; counts it as busy when another process has it to do. Returns -1
 * to stop the pass (stopping, or another protocol's item). */
static int processor_offer(processor *p, json_t *item, processor_pass *ps)
{
    char msg[1000];
    if (lease_foreign_item(item, p->table.table, msg, sizeof msg)) {
        ddb_error_set(&p->producer_error, "ProtocolMismatch", 0, "%s", msg);
        p->producer_failed = 1;
        json_decref(item);
        return -1;
    }
    if (!p->leases)
        return queue_push(&p->q, item);
    record_key key;
    int has_key = record_key_of(item, &key) == 0;
    int portion = has_key ? processor_portion_of(p, &key) : 0;
    lease_class c = has_key ? lease_classify(p->leases, ps->id, portion) : LEASE_MINE;
    if (c == LEASE_BUSY)
        ps->busy++;
    if (c != LEASE_MINE || !lease_enqueue(p->leases, portion)) {
        json_decref(item);
        return 0;
    }
    if ((ps->front ? queue_push_front(&p->q, item) : queue_push(&p->q, item)) == 0)
        return 0;
    lease_end(p->leases, portion);
    return -1;
}

/* Hands a page's records to the queue; returns -1 once the pass must stop. */
static int processor_enqueue_page(processor *p, json_t *items, processor_pass *ps)
{
    for (size_t i = 0; i < json_array_size(items); i++) {
        /* Detach the item so the queue hands over its only reference:
         * jansson's counts are not safe to share between threads. */
        json_t *item = json_incref(json_array_get(items, i));
        json_array_set_new(items, i, json_null());
        if (processor_offer(p, item, ps) != 0)
            return -1;
    }
    return 0;
}

/* Queries one page of q's shard after *start and offers its records to the
 * pass. While DynamoDB throttles, or the shared retry quota is empty, the
 * run does not end: it waits and asks again (other errors end it once the
 * policy's retries are spent). Returns 1 when the shard has no more pages,
 * 0 when it has, -1 on failure (p->producer_failed set) or once the pass
 * must stop. */
static int processor_producer_page(processor *p, record_query *q, json_t **start, processor_pass *ps)
{
    json_t *items;
    json_t *last;
    int rc;
    for (int waits = 1;; waits++) {
        rc = record_query_page(p->producer_client, &p->table, q, *start, &items, &last, &p->producer_error);
        const ddb_error *e = &p->producer_error;
        if (rc == 0 || !(e->quota_empty || retry_is_throttle(e->code)) || atomic_load(&p->q.stopping))
            break;
        retry_sleep_ms(retry_ceiling_ms(&p->policy, waits < 6 ? waits : 6));   /* at most 32 x base */
    }
    if (rc != 0) {
        p->producer_failed = 1;
        return -1;
    }
    json_decref(*start);
    *start = last;
    int stopped = processor_enqueue_page(p, items, ps);
    json_decref(items);
    if (stopped)
        return -1;
    return last ? 0 : 1;
}

static int processor_pass_run(processor *p, processor_pass *ps);

/* Portions taken while a long pass runs (a dead process's, a shed one) are
 * read at once in a pass of their own, their records queued first: a
 * take-over does not wait for this process's own backlog. */
static int processor_takeover_pass(processor *p)
{
    processor_pass inner = { lease_pass_begin(p->leases), 1, 0 };
    int rc = processor_pass_run(p, &inner);
    if (rc == 0)
        lease_pass_end(p->leases, inner.id, 0);
    return rc;
}

/* One pass over the Processed = 0 index: every shard (one on the seed's
 * layout), a page of each in turn, so that no shard waits for another to be
 * drained. Returns -1 when stopped or failed. */
static int processor_pass_run(processor *p, processor_pass *ps)
{
    int count = p->table.layout.shards > 0 ? p->table.layout.shards : 1;
    int left = count;
    int rc = 0;
    json_t **starts = calloc((size_t)count, sizeof *starts);
    char *done = calloc((size_t)count, 1);
    record_query q = { .kind = RECORD_QUERY_UNPROCESSED, .limit = (int)p->o->page_size, .policy = &p->policy };
    if (!starts || !done) {
        ddb_error_set(&p->producer_error, "OutOfMemory", 0, "out of memory reading the index");
        p->producer_failed = 1;
        rc = -1;
    }
    while (rc == 0 && left > 0 && !atomic_load(&p->q.stopping)) {
        for (q.shard = 0; rc == 0 && q.shard < count && left > 0; q.shard++) {
            if (done[q.shard])
                continue;
            if (p->leases && !ps->front && lease_pass_pending(p->leases) > 0)
                rc = processor_takeover_pass(p);
            int page = rc == 0 ? processor_producer_page(p, &q, &starts[q.shard], ps) : -1;
            if (page < 0)
                rc = -1;
            else if (page == 1) {
                done[q.shard] = 1;
                left--;
            }
        }
    }
    for (int i = 0; starts && i < count; i++)
        json_decref(starts[i]);
    free(starts);
    free(done);
    return rc == 0 && !atomic_load(&p->q.stopping) ? 0 : -1;
}

/* Without leases one pass. With leases, passes until no record is left that
 * another live process still has to do: a portion whose owner dies comes
 * back here once its lease expires, and a joiner's shed portions go to it. */
static void *processor_producer_main(void *arg)
{
    processor *p = arg;
    int drained = 0;
    for (;;) {
        processor_pass ps = { p->leases ? lease_pass_begin(p->leases) : 0, 0, 0 };
        int rc = processor_pass_run(p, &ps);
        if (!p->leases || rc != 0)
            break;
        lease_pass_end(p->leases, ps.id, 1);
        int pending = lease_pass_pending(p->leases);
        if (!ps.busy && !pending && drained)
            break;
        /* before ending, let every queued record finish and look once more:
         * one given up on the way (a lapse, a hand-back) is read again */
        drained = !ps.busy && !pending;
        if (drained)
            lease_wait_drained(p->leases, &p->q.stopping);
        else if (!pending)
            lease_wait_ticks(p->leases, 1, &p->q.stopping);
    }
    queue_close(&p->q);
    processor_thread_ended(p);
    return NULL;
}

void processor_snapshot(processor *p, processor_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < p->o->max_workers; i++)
        out->failed += atomic_load(&p->workers[i].failed);
    out->processed = atomic_load(&p->marked);
    out->failed += atomic_load(&p->mark_failed);
    out->skipped = atomic_load(&p->mark_skipped);
    pthread_mutex_lock(&p->run_lock);
    double started = p->started;
    pthread_mutex_unlock(&p->run_lock);
    out->elapsed_s = started > 0 ? processor_now_s() - started : 0;
}

void processor_request_stop(processor *p, processor_stop_reason why)
{
    int none = PROCESSOR_STOP_NONE;
    atomic_compare_exchange_strong(&p->stop, &none, (int)why);
    queue_stop(&p->q);
    pthread_mutex_lock(&p->run_lock);
    pthread_cond_broadcast(&p->run_changed);
    pthread_mutex_unlock(&p->run_lock);
}

processor_stop_reason processor_stop_requested(processor *p)
{
    return (processor_stop_reason)atomic_load(&p->stop);
}

static void processor_add_ms(struct timespec *t, long ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static int processor_reached(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec != deadline->tv_sec)
        return now.tv_sec > deadline->tv_sec;
    return now.tv_nsec >= deadline->tv_nsec;
}

/* The run loop, on the thread that called processor_run: sleeps until a
 * thread ends, a stop is requested or the host's progress is due. A stop
 * request has already stopped the queue; the loop only waits for the
 * callbacks in flight. */
static int processor_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec != b->tv_sec ? a->tv_sec < b->tv_sec : a->tv_nsec < b->tv_nsec;
}

/* Once a stop was requested: the deadline of the drain, set on first call. */
static int processor_drain_deadline(processor *p, struct timespec *drain, int *draining)
{
    if (!*draining && p->o->drain_timeout_ms > 0 && processor_stop_requested(p) != PROCESSOR_STOP_NONE) {
        clock_gettime(CLOCK_MONOTONIC, drain);
        processor_add_ms(drain, p->o->drain_timeout_ms);
        *draining = 1;
    }
    return *draining;
}

static void processor_supervise(processor *p)
{
    long interval = p->hooks.progress ? p->hooks.progress_interval_ms : 0;
    long step = interval > 0 ? interval : 3600000;
    struct timespec next;
    struct timespec drain;
    int draining = 0;
    clock_gettime(CLOCK_MONOTONIC, &next);
    processor_add_ms(&next, step);
    pthread_mutex_lock(&p->run_lock);
    while (p->running_threads > 0) {
        if (processor_drain_deadline(p, &drain, &draining) && processor_reached(&drain)) {
            p->drain_expired = 1;   /* read by processor_run on this thread */
            break;
        }
        const struct timespec *until = draining && processor_before(&drain, &next) ? &drain : &next;
        if (pthread_cond_timedwait(&p->run_changed, &p->run_lock, until) == 0 || !processor_reached(&next))
            continue;
        pthread_mutex_unlock(&p->run_lock);
        if (interval > 0) {
            processor_stats s;
            processor_snapshot(p, &s);
            p->hooks.progress(p->hooks.host, &s);
        }
        clock_gettime(CLOCK_MONOTONIC, &next);   /* a slow host skips ticks rather than bunching them */
        processor_add_ms(&next, step);
        pthread_mutex_lock(&p->run_lock);
    }
    pthread_mutex_unlock(&p->run_lock);
}

static int processor_start_clients(processor *p, const ddb_config *cfg, void **worker_data, ddb_error *err)
{
    p->producer_client = ddb_client_new(cfg, err);
    if (!p->producer_client)
        return -1;
    for (int i = 0; i < p->o->max_workers; i++) {
        processor_worker *w = &p->workers[i];
        w->p = p;
        w->index = i;
        w->data = worker_data[i];
        w->client = ddb_client_new(cfg, err);
        if (!w->client)
            return -1;
    }
    return 0;
}

/* Room for a whole page, so the next page is fetched while this one drains. */
static int processor_default_queue_size(const processor_options *o)
{
    int size = o->page_size > 0 ? (int)o->page_size : 1000;   /* 1 MB pages: about 1000 records */
    int floor = (int)o->max_workers * 4;
    return size > floor ? size : floor;
}

/* Leaves p freeable by processor_free whatever fails. */
static int processor_init_sync(processor *p)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);   /* the run loop's deadlines */
    pthread_cond_init(&p->run_changed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&p->run_lock, NULL);
    return 0;
}

processor *processor_new(const processor_options *o, const ddb_config *cfg, processor_callback cb,
                         void **worker_data, const processor_hooks *hooks, ddb_error *err)
{
    processor *p = calloc(1, sizeof *p);
    if (!p || processor_init_sync(p) != 0) {
        free(p);
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the processor");
        return NULL;
    }
    p->o = o;
    p->cfg = cfg;
    p->cb = cb;
    if (hooks)
        p->hooks = *hooks;
    p->policy = (retry_policy){ o->max_retries + 1, o->backoff_base_ms, o->backoff_multiplier, o->backoff_cap_ms };
    char msg[1200];
    if (failures_init(&p->fails, (size_t)o->max_errors, o->errors_file, msg, sizeof msg) != 0) {
        ddb_error_set(err, "ConfigError", 0, "%s", msg);
        goto fail;
    }
    int queue_cap = o->queue_size > 0 ? (int)o->queue_size : processor_default_queue_size(o);
    p->workers = calloc((size_t)o->max_workers, sizeof *p->workers);
    if (queue_init(&p->q, queue_cap) != 0 || !p->workers) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the processor");
        goto fail;
    }
    p->table = o->table;
    if (processor_start_clients(p, cfg, worker_data, err) != 0 ||
        record_table_discover(p->producer_client, &p->table, err) != 0)
        goto fail;
    return p;
fail:
    processor_free(p);
    return NULL;
}

/* Starts the producer and the workers; returns how many workers started, or
 * -1 when not even the producer did. */
static int processor_start_threads(processor *p, ddb_error *err)
{
    pthread_mutex_lock(&p->run_lock);
    p->started = processor_now_s();
    p->running_threads = 2 + (int)p->o->max_workers;   /* the producer, the marker, the workers */
    pthread_mutex_unlock(&p->run_lock);
    atomic_store(&p->workers_running, (int)p->o->max_workers);
    if (processor_start_marker(p, err) != 0)
        return -1;
    if (pthread_create(&p->producer, NULL, processor_producer_main, p) != 0) {
        ddb_error_set(err, "ThreadError", 0, "cannot start the producer thread");
        return -1;
    }
    int started = 0;
    while (started < p->o->max_workers &&
           pthread_create(&p->workers[started].thread, NULL, processor_worker_main, &p->workers[started]) == 0)
        started++;
    if (started < p->o->max_workers) {
        pthread_mutex_lock(&p->run_lock);
        p->running_threads -= (int)p->o->max_workers - started;
        pthread_mutex_unlock(&p->run_lock);
        processor_workers_gone(p, (int)p->o->max_workers - started);
        processor_request_stop(p, PROCESSOR_STOP_HOST);
        ddb_error_set(err, "ThreadError", 0, "cannot start worker thread %d", started + 1);
    }
    return started;
}

/* What the processor's own requests consumed; once the threads are joined
 * (each client's sums are its thread's). */
static void processor_consumed(processor *p, processor_stats *s)
{
    double wcu, rcu;
    ddb_client_consumed(p->producer_client, &s->consumed_wcu, &s->consumed_rcu);
    for (int i = 0; i < p->o->max_workers; i++) {
        ddb_client_consumed(p->workers[i].client, &wcu, &rcu);
        s->consumed_wcu += wcu;
        s->consumed_rcu += rcu;
        s->parked += atomic_load(&p->workers[i].parked);
    }
    s->consumed_wcu += p->marker_wcu;
    s->consumed_rcu += p->marker_rcu;
    s->capacity_metered = 1;
    if (!p->leases)
        return;
    lease_stats ls;
    lease_get_stats(p->leases, &ls);
    s->lease_wcu = ls.wcu;
    s->lease_rcu = ls.rcu;
    s->consumed_wcu += ls.wcu;
    s->consumed_rcu += ls.rcu;
}

static void processor_collect(processor *p, processor_result *result)
{
    processor_snapshot(p, &result->stats);
    result->stopped = processor_stop_requested(p);
    failures_take(&p->fails, &result->errors, &result->error_count);
    result->errors_lost = p->fails.lost;
}

static int processor_callbacks_running(processor *p)
{
    int n = 0;
    for (int i = 0; i < p->o->max_workers; i++)
        n += atomic_load(&p->workers[i].busy);
    return n;
}

/* A drain that outlived drain_timeout_ms: the callbacks still running are
 * given up. The leases are handed back first, so nothing is marked after
 * this (the lease check refuses it); the caller exits the process. */
static int processor_give_up(processor *p, processor_result *result, ddb_error *err)
{
    int running = processor_callbacks_running(p);
    lease_release_all(p->leases);
    processor_collect(p, result);
    result->stats.unfinished = running;
    ddb_error_set(err, "DrainTimeout", 0,
                  "the drain took longer than drain_timeout_ms (%ld ms): %d callback%s still running were given up, "
                  "their records stay unprocessed", p->o->drain_timeout_ms, running, running == 1 ? "" : "s");
    return -1;
}

int processor_run(processor *p, processor_result *result, ddb_error *err)
{
    memset(result, 0, sizeof *result);
    if (p->ran) {
        ddb_error_set(err, "InvalidState", 0, "a processor runs only once");
        return -1;
    }
    p->ran = 1;
    if (p->o->lease_ms > 0 && !(p->leases = lease_start(p->cfg, &p->table, p->o->lease_ms, err)))
        return -1;
    int workers = processor_start_threads(p, err);
    if (workers >= 0)
        processor_supervise(p);
    if (p->drain_expired)
        return processor_give_up(p, result, err);
    for (int i = 0; i < workers; i++)
        pthread_join(p->workers[i].thread, NULL);
    if (workers >= 0)
        pthread_join(p->producer, NULL);
    if (p->marker)
        marker_consumed(p->marker, &p->marker_wcu, &p->marker_rcu);
    marker_finish(p->marker);   /* every pending mark reported (the run loop waited for it) */
    p->marker = NULL;
    lease_release_all(p->leases);   /* nothing in flight, no mark pending: hand every lease back */
    processor_collect(p, result);
    processor_consumed(p, &result->stats);
    lease_abandon(p->leases);       /* frees it; the leases are already back */
    p->leases = NULL;
    if (workers < p->o->max_workers)
        return -1;
    if (p->producer_failed) {
        *err = p->producer_error;
        return -1;
    }
    return 0;
}

void processor_free(processor *p)
{
    if (!p)
        return;
    for (int i = 0; p->workers && i < p->o->max_workers; i++)
        ddb_client_free(p->workers[i].client);
    ddb_client_free(p->producer_client);
    free(p->workers);
    queue_destroy(&p->q);
    pthread_mutex_destroy(&p->run_lock);
    pthread_cond_destroy(&p->run_changed);
    failures_close(&p->fails);
    lease_abandon(p->leases);
    free(p);
}

void processor_result_free(processor_result *r)
{
    failure_free_list(r->errors, r->error_count);
    r->errors = NULL;
    r->error_count = 0;
}
