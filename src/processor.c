#include "processor.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lease.h"
#include "options.h"

/* --- options --- */

/* One table for ddb.processor{...} and the PROCESSOR_* variables. */
static const option_spec INT_OPTIONS[] = {
    { "max_workers", "PROCESSOR_MAX_WORKERS", 1, 256, 5, offsetof(processor_options, max_workers) },
    { "max_retries", "PROCESSOR_MAX_RETRIES", 0, 100, 3, offsetof(processor_options, max_retries) },
    { "backoff_base_ms", "PROCESSOR_BACKOFF_BASE_MS", 0, 600000, 100, offsetof(processor_options, backoff_base_ms) },
    { "backoff_cap_ms", "PROCESSOR_BACKOFF_CAP_MS", 0, 3600000, 20000, offsetof(processor_options, backoff_cap_ms) },
    { "callback_retries", "PROCESSOR_CALLBACK_RETRIES", 0, 100, 0, offsetof(processor_options, callback_retries) },
    { "timeout_ms", "PROCESSOR_TIMEOUT_MS", 0, 86400000, 0, offsetof(processor_options, timeout_ms) },
    { "lease_ms", "PROCESSOR_LEASE_MS", 0, 86400000, 0, offsetof(processor_options, lease_ms) },
    { "queue_size", "PROCESSOR_QUEUE_SIZE", 0, 1000000, 0, offsetof(processor_options, queue_size) },
    { "page_size", "PROCESSOR_PAGE_SIZE", 0, 1000000, PROCESSOR_DEFAULT_PAGE_SIZE, offsetof(processor_options, page_size) },
    { "max_failures", "PROCESSOR_MAX_FAILURES", 0, 1000000, 0, offsetof(processor_options, max_failures) },
    { "max_errors", "PROCESSOR_MAX_ERRORS", 0, 10000000, FAILURES_DEFAULT_MAX, offsetof(processor_options, max_errors) },
    { "drain_timeout_ms", "PROCESSOR_DRAIN_TIMEOUT_MS", 0, 86400000, 25000, offsetof(processor_options, drain_timeout_ms) },
};
#define INT_OPTION_COUNT (sizeof INT_OPTIONS / sizeof *INT_OPTIONS)

int processor_option_set(processor_options *o, const char *name, long v, const char *label,
                         char *err, size_t errlen)
{
    return options_set(o, INT_OPTIONS, INT_OPTION_COUNT, name, v, label, err, errlen);
}

int processor_options_from_env(processor_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->backoff_multiplier = 2.0;
    o->progress = isatty(STDERR_FILENO);
    o->summary = 1;
    if (options_from_env(o, INT_OPTIONS, INT_OPTION_COUNT, err, errlen) != 0 ||
        record_table_from_env(&o->table, err, errlen) != 0)
        return -1;
    const char *mult = getenv("PROCESSOR_BACKOFF_MULTIPLIER");
    if (mult && *mult) {
        char *end;
        o->backoff_multiplier = strtod(mult, &end);
        if (*end || !(o->backoff_multiplier >= 1.0 && o->backoff_multiplier <= 10.0)) {
            snprintf(err, errlen, "PROCESSOR_BACKOFF_MULTIPLIER must be a number from 1 to 10, not '%s'", mult);
            return -1;
        }
    }
    const char *errors_file = getenv("PROCESSOR_ERRORS_FILE");
    if (errors_file && strlen(errors_file) >= sizeof o->errors_file) {
        snprintf(err, errlen, "PROCESSOR_ERRORS_FILE is longer than %zu bytes", sizeof o->errors_file - 1);
        return -1;
    }
    snprintf(o->errors_file, sizeof o->errors_file, "%s", errors_file ? errors_file : "");
    const char *progress = getenv("PROCESSOR_PROGRESS");
    if (progress && *progress && strcmp(progress, "auto") != 0)
        o->progress = strcmp(progress, "0") != 0 && strcmp(progress, "off") != 0;
    return 0;
}

/* --- the bounded queue between producer and workers --- */

typedef struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    json_t **items;
    int cap, head, count;
    atomic_int closed;      /* the producer is done */
    atomic_int stopping;    /* take no more records */
} queue;

/* Always leaves q destroyable, even when the allocation fails. */
static int queue_init(queue *q, int cap)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->items = calloc((size_t)cap, sizeof *q->items);
    q->cap = q->items ? cap : 0;
    return q->items ? 0 : -1;
}

static void queue_destroy(queue *q)
{
    for (int i = 0; i < q->count; i++) json_decref(q->items[(q->head + i) % q->cap]);
    free(q->items);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

/* Takes ownership of item; front: ahead of every queued record. Returns -1
 * (and drops it) once stopping. */
static int queue_push(queue *q, json_t *item, int front)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == q->cap)
        while (q->count > q->cap / 2 && !q->stopping) pthread_cond_wait(&q->not_full, &q->lock);
    int stopping = q->stopping;
    if (!stopping && front) {
        q->head = (q->head + q->cap - 1) % q->cap;
        q->items[q->head] = item;
        q->count++;
        pthread_cond_signal(&q->not_empty);
    } else if (!stopping) {
        q->items[(q->head + q->count++) % q->cap] = item;
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->lock);
    if (stopping) json_decref(item);
    return stopping ? -1 : 0;
}

/* The next record (the caller owns it), or NULL when done or stopping. */
static json_t *queue_pop(queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed && !q->stopping) pthread_cond_wait(&q->not_empty, &q->lock);
    json_t *item = NULL;
    if (q->count > 0 && !q->stopping) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        /* wake the producer only when half the queue is free, not per record */
        if (q->count == q->cap / 2) pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

static void queue_set(queue *q, atomic_int *flag)
{
    pthread_mutex_lock(&q->lock);
    atomic_store(flag, 1);
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

/* --- the run --- */

typedef struct processor processor;

typedef struct worker {
    processor *p;
    int index;
    void *data;
    ddb_client *client;
    pthread_t thread;
    atomic_long processed, failed, skipped, parked;
    atomic_int busy;                 /* in a callback now */
} worker;

struct processor {
    const processor_options *o;
    processor_callback cb;
    queue q;
    retry_policy policy;
    lease_set *leases;               /* NULL without lease_ms */
    atomic_int running_threads;      /* workers and the producer still running */
    failures fails;
    ddb_client *producer_client;
    pthread_t producer;
    int producer_failed;
    int interrupted;                 /* a signal asked to stop */
    ddb_error producer_error;        /* written by the producer, read after join */
    worker *workers;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void add_error(processor *p, const json_t *item, const char *kind, const char *message, int attempts)
{
    failures_add(&p->fails, record_account_id(item), record_run_time(item), kind, message, attempts);
}

static void add_ddb_error(processor *p, const json_t *item, const char *what, const ddb_error *err)
{
    char msg[1400];
    snprintf(msg, sizeof msg, "%s: %s: %s", what, err->code, err->message);
    add_error(p, item, "dynamodb", msg, err->attempts);
}

/* Runs the callback, again up to callback_retries times while it errors. */
static processor_callback_result run_callback(worker *w, const json_t *item, long long lease, char *msg,
                                              size_t msglen, int *attempts)
{
    processor *p = w->p;
    processor_callback_result r;
    *attempts = 0;
    atomic_store(&w->busy, 1);
    do {
        ++*attempts;
        msg[0] = '\0';
        r = p->cb(w->data, w->index, item, lease, msg, msglen);
    } while (r == PROCESSOR_CALLBACK_ERROR && *attempts <= p->o->callback_retries && !p->q.stopping);
    atomic_store(&w->busy, 0);
    return r;
}

/* The one check every write about a record goes through, right before it is
 * sent: with leases, the record's portion lease must still be valid on this
 * process's monotonic clock (with its safety margin). */
static int write_allowed(processor *p, int portion)
{
    return !p->leases || lease_check(p->leases, portion);
}

static void refuse_late_write(worker *w, const json_t *item)
{
    add_error(w->p, item, "lease", "the lease on its portion expired before the record was marked; it stays unprocessed", 1);
    w->failed++;
}

/* After a failed callback: with max_failures, counts the failure on the item
 * and parks the record at the limit. */
static void note_failure(worker *w, const json_t *item, int portion, const char *msg)
{
    processor *p = w->p;
    if (p->o->max_failures <= 0 || !write_allowed(p, portion)) return;
    ddb_error err;
    int parked;
    record_mark_result r = record_note_failure(w->client, &p->o->table, record_account_id(item), record_run_time(item),
                                               record_failures(item), p->o->max_failures, msg, &parked, &p->policy, &err);
    if (r == RECORD_MARKED && parked) w->parked++;
}

static void finish_record(worker *w, const json_t *item, int portion, processor_callback_result r, const char *msg,
                          int attempts)
{
    processor *p = w->p;
    const char *acct = record_account_id(item), *rt = record_run_time(item);
    ddb_error err;
    if (r != PROCESSOR_CALLBACK_OK) {
        add_error(p, item, r == PROCESSOR_CALLBACK_TIMEOUT ? "timeout" : "callback", msg, attempts);
        w->failed++;
        note_failure(w, item, portion, msg);
        return;
    }
    if (!write_allowed(p, portion)) {
        refuse_late_write(w, item);
        return;
    }
    record_mark_result m = record_mark_processed(w->client, &p->o->table, acct, rt, NULL, &p->policy, &err);
    if (m == RECORD_MARKED) {
        w->processed++;
    } else if (m == RECORD_NOT_MARKED) {
        w->skipped++;   /* another process marked it first */
    } else {
        add_ddb_error(p, item, "marking processed", &err);
        w->failed++;
    }
}

static void process_one(worker *w, const json_t *item)
{
    processor *p = w->p;
    const char *acct = record_account_id(item), *rt = record_run_time(item);
    if (!acct || !rt) {
        add_error(p, item, "invalid", "the record has no AccountId or RunTime string", 0);
        w->failed++;
        return;
    }
    int portion = p->leases ? lease_portion_of(lease_portions(p->leases), acct, rt) : -1;
    long long token = -1;
    if (p->leases && !lease_begin(p->leases, portion, &token)) {
        lease_end(p->leases, portion);   /* no longer ours: its new owner takes it */
        return;
    }
    char msg[4096];
    int attempts;
    processor_callback_result r = run_callback(w, item, token, msg, sizeof msg, &attempts);
    finish_record(w, item, portion, r, msg, attempts);
    if (p->leases) lease_end(p->leases, portion);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    json_t *item;
    while ((item = queue_pop(&w->p->q)) != NULL) {
        process_one(w, item);
        json_decref(item);
    }
    atomic_fetch_sub(&w->p->running_threads, 1);
    return NULL;
}

/* The pass being read: its id, whether its records go to the front of the
 * queue, and how many records other processes still have to do. */
typedef struct pass {
    unsigned id;
    int front;
    int busy;
} pass;

/* Queues the item (a reference the caller gives up) when it is this pass's
 * to run; counts it as busy when another process has it to do. Returns -1
 * to stop the pass (stopping, or another protocol's item). */
static int offer(processor *p, json_t *item, pass *ps)
{
    char msg[1000];
    if (lease_foreign_item(item, p->o->table.table, msg, sizeof msg)) {
        ddb_error_set(&p->producer_error, "ProtocolMismatch", 0, "%s", msg);
        p->producer_failed = 1;
        json_decref(item);
        return -1;
    }
    if (!p->leases) return queue_push(&p->q, item, 0);
    const char *acct = record_account_id(item), *rt = record_run_time(item);
    int portion = acct && rt ? lease_portion_of(lease_portions(p->leases), acct, rt) : 0;
    lease_class c = acct && rt ? lease_classify(p->leases, ps->id, portion) : LEASE_MINE;
    if (c == LEASE_BUSY) ps->busy++;
    if (c != LEASE_MINE || !lease_enqueue(p->leases, portion)) {
        json_decref(item);
        return 0;
    }
    if (queue_push(&p->q, item, ps->front) == 0) return 0;
    lease_end(p->leases, portion);
    return -1;
}

static int run_pass(processor *p, pass *ps);

/* Portions taken while a long pass runs (a dead process's, a shed one) are
 * read at once in a pass of their own, their records queued first: the
 * take-over does not wait for this process's own backlog. */
static int takeover_pass(processor *p)
{
    pass inner = { lease_pass_begin(p->leases), 1, 0 };
    int rc = run_pass(p, &inner);
    if (rc == 0) lease_pass_end(p->leases, inner.id);
    return rc;
}

/* One pass over the Processed = 0 index. Returns -1 when stopped or failed. */
static int run_pass(processor *p, pass *ps)
{
    record_query q = { RECORD_QUERY_UNPROCESSED, NULL, NULL, NULL, p->o->page_size };
    json_t *start = NULL;
    int rc = 0;
    do {
        if (p->leases && !ps->front && lease_pass_pending(p->leases) > 0) rc = takeover_pass(p);
        json_t *items = NULL, *last = NULL;
        if (rc == 0 &&
            record_query_page(p->producer_client, &p->o->table, &q, start, &items, &last, &p->producer_error) != 0) {
            p->producer_failed = 1;
            rc = -1;
        }
        json_decref(start);
        start = last;
        for (size_t i = 0; i < json_array_size(items) && rc == 0; i++) {
            /* Detach the item so the queue hands over its only reference:
             * jansson's counts are not safe to share between threads. */
            json_t *item = json_incref(json_array_get(items, i));
            json_array_set_new(items, i, json_null());
            rc = offer(p, item, ps);
        }
        json_decref(items);
    } while (start && rc == 0 && !p->q.stopping);
    json_decref(start);
    return rc == 0 && !p->q.stopping ? 0 : -1;
}

/* Without leases one pass. With leases, passes until no record is left that
 * another process still has to do: a portion whose owner dies comes back
 * here once its lease expires, and a joiner's shed portions go to it. */
static void *producer_main(void *arg)
{
    processor *p = arg;
    for (;;) {
        pass ps = { p->leases ? lease_pass_begin(p->leases) : 0, 0, 0 };
        int rc = run_pass(p, &ps);
        if (!p->leases || rc != 0) break;
        lease_pass_end(p->leases, ps.id);
        if (!ps.busy && !lease_pass_pending(p->leases)) break;
        if (!lease_pass_pending(p->leases)) lease_wait_ticks(p->leases, 1, &p->q.stopping);
    }
    queue_set(&p->q, &p->q.closed);
    atomic_fetch_sub(&p->running_threads, 1);
    return NULL;
}

static void totals(const processor *p, long *processed, long *failed, long *skipped)
{
    *processed = *failed = *skipped = 0;
    for (int i = 0; i < p->o->max_workers; i++) {
        *processed += p->workers[i].processed;
        *failed += p->workers[i].failed;
        *skipped += p->workers[i].skipped;
    }
}

/* What the processor's own requests consumed; read once the threads are joined. */
static void consumed(processor *p, processor_result *r)
{
    double wcu, rcu;
    ddb_client_consumed(p->producer_client, &wcu, &rcu);
    r->consumed_wcu = wcu;
    r->consumed_rcu = rcu;
    for (int i = 0; i < p->o->max_workers; i++) {
        ddb_client_consumed(p->workers[i].client, &wcu, &rcu);
        r->consumed_wcu += wcu;
        r->consumed_rcu += rcu;
        r->parked += p->workers[i].parked;
    }
    if (!p->leases) return;
    lease_stats ls;
    lease_get_stats(p->leases, &ls);
    r->lease_wcu = ls.wcu;
    r->lease_rcu = ls.rcu;
    r->consumed_wcu += ls.wcu;
    r->consumed_rcu += ls.rcu;
}

static int callbacks_running(const processor *p)
{
    int n = 0;
    for (int i = 0; i < p->o->max_workers; i++) n += atomic_load(&p->workers[i].busy);
    return n;
}

static void print_progress(const processor *p, double elapsed, int final, const processor_result *r)
{
    long done, failed, skipped;
    totals(p, &done, &failed, &skipped);
    double rate = elapsed > 0 ? done / elapsed : 0;
    if (final)
        fprintf(stderr, "%sddbrun: processed %ld, skipped %ld, failed %ld in %.1f s (%.0f records/s); "
                "consumed %.1f WCU, %.1f RCU\n", p->o->progress ? "\r\033[K" : "", done, skipped, failed, elapsed,
                rate, r ? r->consumed_wcu : 0, r ? r->consumed_rcu : 0);
    else
        fprintf(stderr, "\r\033[K%ld processed · %ld skipped · %ld failed · %.0f rec/s · %.1f s",
                done, skipped, failed, rate, elapsed);
    fflush(stderr);
}

/* A drain that outlived drain_timeout_ms: the callbacks still running are
 * given up. Their leases are handed back (nothing is marked after this: the
 * lease check refuses it) and the process exits, as an orchestrator's
 * SIGKILL would make it anyway. */
static void drain_timed_out(processor *p, int sig)
{
    int running = callbacks_running(p);
    lease_release_all(p->leases);
    fprintf(stderr, "ddbrun: the drain took longer than drain_timeout_ms (%ld ms): %d callback%s still running "
            "were given up, their records stay unprocessed\n", p->o->drain_timeout_ms, running,
            running == 1 ? "" : "s");
    _exit(128 + sig);
}

/* Waits for the workers while handling SIGINT/SIGTERM and drawing progress. */
static void supervise(processor *p, const sigset_t *signals, double started)
{
    /* short ticks so a run ends promptly; progress is redrawn every 10th */
    struct timespec tick = { 0, 20 * 1000000L };
    double drain_until = 0;
    int stop_sig = 0;
    for (unsigned ticks = 1; atomic_load(&p->running_threads) > 0; ticks++) {
        int sig = sigtimedwait(signals, NULL, &tick);
        if (sig > 0 && p->q.stopping) {
            fprintf(stderr, "\nddbrun: aborted; records whose callbacks had not finished were not marked\n");
            _exit(128 + sig);
        }
        if (sig > 0) {
            p->interrupted = 1;
            stop_sig = sig;
            drain_until = now_s() + p->o->drain_timeout_ms / 1000.0;
            fprintf(stderr, "\nddbrun: stopping: finishing the records in progress (press Ctrl-C again to abort)\n");
            queue_set(&p->q, &p->q.stopping);
        }
        if (stop_sig && p->o->drain_timeout_ms > 0 && now_s() > drain_until) drain_timed_out(p, stop_sig);
        if (p->o->progress && ticks % 10 == 0) print_progress(p, now_s() - started, 0, NULL);
    }
}

static int start_clients(processor *p, const ddb_config *cfg, void **worker_data, ddb_error *err)
{
    if (!(p->producer_client = ddb_client_new(cfg, err))) return -1;
    for (int i = 0; i < p->o->max_workers; i++) {
        worker *w = &p->workers[i];
        w->p = p, w->index = i, w->data = worker_data[i];
        if (!(w->client = ddb_client_new(cfg, err))) return -1;
    }
    return 0;
}

static void collect(processor *p, processor_result *result, double started)
{
    totals(p, &result->processed, &result->failed, &result->skipped);
    result->elapsed_s = now_s() - started;
    result->interrupted = p->interrupted;
    failures_take(&p->fails, &result->errors, &result->error_count);
    result->errors_lost = p->fails.lost;
    consumed(p, result);
}

static void cleanup(processor *p)
{
    for (int i = 0; p->workers && i < p->o->max_workers; i++) ddb_client_free(p->workers[i].client);
    ddb_client_free(p->producer_client);
    free(p->workers);
    queue_destroy(&p->q);
    failures_close(&p->fails);
}

/* Starts the producer and the workers; returns how many workers started. */
static int start_threads(processor *p, ddb_error *err)
{
    atomic_store(&p->running_threads, 1);   /* the producer */
    if (pthread_create(&p->producer, NULL, producer_main, p) != 0) {
        ddb_error_set(err, "ThreadError", 0, "cannot start the producer thread");
        return -1;
    }
    int started = 0;
    atomic_fetch_add(&p->running_threads, p->o->max_workers);
    for (; started < p->o->max_workers; started++)
        if (pthread_create(&p->workers[started].thread, NULL, worker_main, &p->workers[started]) != 0) break;
    if (started < p->o->max_workers) {
        atomic_fetch_sub(&p->running_threads, p->o->max_workers - started);
        queue_set(&p->q, &p->q.stopping);
        ddb_error_set(err, "ThreadError", 0, "cannot start worker thread %d", started + 1);
    }
    return started;
}

/* Room for a whole page, so the next page is fetched while this one drains. */
static int default_queue_size(const processor_options *o)
{
    int size = o->page_size > 0 ? o->page_size : 1000;   /* 1 MB pages: about 1000 records */
    return size > o->max_workers * 4 ? size : o->max_workers * 4;
}

int processor_run(const processor_options *o, const ddb_config *cfg, processor_callback cb,
                  void **worker_data, processor_result *result, ddb_error *err)
{
    memset(result, 0, sizeof *result);
    processor p;
    memset(&p, 0, sizeof p);
    p.o = o, p.cb = cb;
    p.policy = (retry_policy){ o->max_retries + 1, o->backoff_base_ms, o->backoff_multiplier, o->backoff_cap_ms };
    char msg[1200];
    if (failures_init(&p.fails, (size_t)o->max_errors, o->errors_file, msg, sizeof msg) != 0) {
        ddb_error_set(err, "ConfigError", 0, "%s", msg);
        failures_close(&p.fails);
        return -1;
    }
    int queue_cap = o->queue_size > 0 ? o->queue_size : default_queue_size(o);
    p.workers = calloc((size_t)o->max_workers, sizeof *p.workers);
    if (queue_init(&p.q, queue_cap) != 0 || !p.workers) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the processor");
        cleanup(&p);
        return -1;
    }
    if (start_clients(&p, cfg, worker_data, err) != 0 ||
        (o->lease_ms && !(p.leases = lease_start(cfg, &o->table, o->lease_ms, err)))) {
        cleanup(&p);
        return -1;
    }
    sigset_t signals, old;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, &old);   /* the threads inherit it */
    double started = now_s();
    int workers = start_threads(&p, err);
    int failed_to_start = workers < o->max_workers;
    if (workers >= 0) supervise(&p, &signals, started);
    for (int i = 0; i < workers; i++) pthread_join(p.workers[i].thread, NULL);
    if (workers >= 0) pthread_join(p.producer, NULL);
    /* a signal that came after the last check must not kill us on unblocking */
    struct timespec now = { 0, 0 };
    if (sigtimedwait(&signals, NULL, &now) > 0) p.interrupted = 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    lease_release_all(p.leases);   /* nothing in flight now: hand every lease back */
    collect(&p, result, started);
    lease_abandon(p.leases);       /* frees it (the leases are already back) */
    if (o->summary) print_progress(&p, result->elapsed_s, 1, result);
    int rc = 0;
    if (workers < 0 || failed_to_start) rc = -1;
    else if (p.producer_failed) *err = p.producer_error, rc = -1;
    cleanup(&p);
    return rc;
}

void processor_result_free(processor_result *r)
{
    failure_free_list(r->errors, r->error_count);
    r->errors = NULL;
    r->error_count = 0;
}
