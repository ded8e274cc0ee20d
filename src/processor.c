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

#include "marker.h"
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
    { "mark_concurrency", "PROCESSOR_MARK_CONCURRENCY", 1, 1024, PROCESSOR_DEFAULT_MARK_CONCURRENCY,
      offsetof(processor_options, mark_concurrency) },
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

/* Takes ownership of item. Returns -1 (and drops it) once stopping. */
static int queue_push(queue *q, json_t *item)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == q->cap)
        while (q->count > q->cap / 2 && !q->stopping) pthread_cond_wait(&q->not_full, &q->lock);
    int stopping = q->stopping;
    if (!stopping) {
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
    atomic_long processed, failed, skipped;
} worker;

struct processor {
    const processor_options *o;
    processor_callback cb;
    queue q;
    retry_policy policy;
    char owner[160];                 /* lease owner: host/pid/random */
    atomic_int running_threads;      /* workers and the producer still running */
    atomic_int workers_running;      /* the last worker out closes the marker */
    marker *marker;                  /* sends the marks of succeeded records */
    atomic_long marked, mark_failed, mark_skipped;   /* final mark outcomes */
    pthread_mutex_t errors_lock;
    processor_error *errors;
    size_t error_count, error_cap;
    long errors_lost;                /* errors that could not be recorded (out of memory) */
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

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_key_error(processor *p, const char *acct, const char *rt, const char *kind, const char *message,
                          int attempts)
{
    processor_error e = { strdup(acct ? acct : ""), strdup(rt ? rt : ""), kind, strdup(message), attempts };
    pthread_mutex_lock(&p->errors_lock);
    if (p->error_count == p->error_cap) {
        size_t cap = p->error_cap ? p->error_cap * 2 : 64;
        processor_error *bigger = realloc(p->errors, cap * sizeof *bigger);
        if (bigger) p->errors = bigger, p->error_cap = cap;
    }
    int stored = e.account_id && e.run_time && e.message && p->error_count < p->error_cap;
    if (stored) p->errors[p->error_count++] = e;
    else p->errors_lost++;
    pthread_mutex_unlock(&p->errors_lock);
    if (!stored) free(e.account_id), free(e.run_time), free(e.message);
}

static void add_error(processor *p, const json_t *item, const char *kind, const char *message, int attempts)
{
    add_key_error(p, record_account_id(item), record_run_time(item), kind, message, attempts);
}

static void add_ddb_key_error(processor *p, const char *acct, const char *rt, const char *what, const ddb_error *err)
{
    char msg[1400];
    snprintf(msg, sizeof msg, "%s: %s: %s", what, err->code, err->message);
    add_key_error(p, acct, rt, "dynamodb", msg, err->attempts);
}

static void add_ddb_error(processor *p, const json_t *item, const char *what, const ddb_error *err)
{
    add_ddb_key_error(p, record_account_id(item), record_run_time(item), what, err);
}

/* --- asynchronous marks (marker.c calls these on its thread) --- */

/* Whether the mark of a record may be sent now. Without leases always; with
 * leases the UpdateItem's condition (LeaseOwner = us) is the check for now:
 * the lease bookkeeping (expiry, heartbeats) fills this function in. */
static int lease_still_held(void *ud, const char *acct, const char *rt, ddb_error *err)
{
    (void)ud;
    (void)acct;
    (void)rt;
    (void)err;
    return 1;
}

static void mark_done(void *ud, const char *acct, const char *rt, record_mark_result m, const ddb_error *err)
{
    processor *p = ud;
    if (m == RECORD_MARKED) {
        atomic_fetch_add(&p->marked, 1);
    } else if (m == RECORD_NOT_MARKED && !p->o->lease_ms) {
        atomic_fetch_add(&p->mark_skipped, 1);   /* another process marked it first */
    } else if (m == RECORD_NOT_MARKED) {
        add_key_error(p, acct, rt, "lease", "the lease expired before the record was marked; it stays unprocessed", 1);
        atomic_fetch_add(&p->mark_failed, 1);
    } else {
        add_ddb_key_error(p, acct, rt, "marking processed", err);
        atomic_fetch_add(&p->mark_failed, 1);
    }
}

static int start_marker(processor *p, const ddb_config *cfg, ddb_error *err)
{
    marker_settings s = {
        .table = &p->o->table,
        .owner = p->o->lease_ms ? p->owner : NULL,
        .policy = p->policy,
        .concurrency = (int)p->o->mark_concurrency,
        .capacity = PROCESSOR_MARKS_PENDING_FACTOR * (int)p->o->mark_concurrency,
        .may_send = lease_still_held,
        .on_done = mark_done,
        .ud = p,
    };
    p->marker = marker_start(&s, cfg, err);
    return p->marker ? 0 : -1;
}

/* Runs the callback, again up to callback_retries times while it errors. */
static processor_callback_result run_callback(worker *w, const json_t *item, char *msg, size_t msglen, int *attempts)
{
    processor *p = w->p;
    processor_callback_result r;
    *attempts = 0;
    do {
        ++*attempts;
        msg[0] = '\0';
        r = p->cb(w->data, w->index, item, msg, msglen);
    } while (r == PROCESSOR_CALLBACK_ERROR && *attempts <= p->o->callback_retries && !p->q.stopping);
    return r;
}

/* Claims the record when leases are on. Returns 1 to go on, 0 when it is not ours. */
static int claim(worker *w, const json_t *item, const char *acct, const char *rt)
{
    processor *p = w->p;
    if (!p->o->lease_ms) return 1;
    ddb_error err;
    long long now = wall_ms();
    record_mark_result r = record_claim(w->client, &p->o->table, acct, rt, p->owner, now + p->o->lease_ms, now,
                                        &p->policy, &err);
    if (r == RECORD_FAILED) {
        add_ddb_error(p, item, "claiming the lease", &err);
        w->failed++;
    } else if (r == RECORD_NOT_MARKED) {
        w->skipped++;
    }
    return r == RECORD_MARKED;
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
    if (!claim(w, item, acct, rt)) return;
    const char *owner = p->o->lease_ms ? p->owner : NULL;
    char msg[4096];
    int attempts;
    processor_callback_result r = run_callback(w, item, msg, sizeof msg, &attempts);
    ddb_error err;
    if (r != PROCESSOR_CALLBACK_OK) {
        add_error(p, item, r == PROCESSOR_CALLBACK_TIMEOUT ? "timeout" : "callback", msg, attempts);
        w->failed++;
        if (owner) record_release(w->client, &p->o->table, acct, rt, owner, &p->policy, &err);
        return;
    }
    /* the marker reports the outcome (mark_done); the worker goes on */
    if (marker_submit(p->marker, acct, rt, &err) != 0) {
        add_ddb_error(p, item, "marking processed", &err);
        w->failed++;
    }
}

/* Called once per worker that started, as it ends (n more at a time for
 * workers that did not start): the last one tells the marker no more marks come. */
static void workers_gone(processor *p, int n)
{
    if (atomic_fetch_sub(&p->workers_running, n) == n) marker_close(p->marker);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    json_t *item;
    while ((item = queue_pop(&w->p->q)) != NULL) {
        process_one(w, item);
        json_decref(item);
    }
    workers_gone(w->p, 1);
    atomic_fetch_sub(&w->p->running_threads, 1);
    return NULL;
}

static void *producer_main(void *arg)
{
    processor *p = arg;
    record_query q = { RECORD_QUERY_UNPROCESSED, NULL, NULL, NULL, p->o->page_size };
    json_t *start = NULL;
    do {
        json_t *items, *last;
        if (record_query_page(p->producer_client, &p->o->table, &q, start, &items, &last, &p->producer_error) != 0) {
            p->producer_failed = 1;
            break;
        }
        json_decref(start);
        start = last;
        for (size_t i = 0; i < json_array_size(items); i++) {
            /* Detach the item so the queue hands over its only reference:
             * jansson's counts are not safe to share between threads. */
            json_t *item = json_incref(json_array_get(items, i));
            json_array_set_new(items, i, json_null());
            if (queue_push(&p->q, item) != 0) break;
        }
        json_decref(items);
    } while (start && !p->q.stopping);
    json_decref(start);
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
    *processed += atomic_load(&p->marked);
    *failed += atomic_load(&p->mark_failed);
    *skipped += atomic_load(&p->mark_skipped);
}

static void print_progress(const processor *p, double elapsed, int final)
{
    long done, failed, skipped;
    totals(p, &done, &failed, &skipped);
    double rate = elapsed > 0 ? done / elapsed : 0;
    if (final)
        fprintf(stderr, "%sddbrun: processed %ld, skipped %ld, failed %ld in %.1f s (%.0f records/s)\n",
                p->o->progress ? "\r\033[K" : "", done, skipped, failed, elapsed, rate);
    else
        fprintf(stderr, "\r\033[K%ld processed · %ld skipped · %ld failed · %.0f rec/s · %.1f s",
                done, skipped, failed, rate, elapsed);
    fflush(stderr);
}

/* Waits for the workers while handling SIGINT/SIGTERM and drawing progress. */
static void supervise(processor *p, const sigset_t *signals, double started)
{
    /* short ticks so a run ends promptly; progress is redrawn every 10th */
    struct timespec tick = { 0, 20 * 1000000L };
    for (unsigned ticks = 1; atomic_load(&p->running_threads) > 0 || !marker_drained(p->marker); ticks++) {
        int sig = sigtimedwait(signals, NULL, &tick);
        if (sig > 0 && p->q.stopping) {
            fprintf(stderr, "\nddbrun: aborted; records whose callbacks had not finished were not marked\n");
            _exit(128 + sig);
        }
        if (sig > 0) {
            p->interrupted = 1;
            fprintf(stderr, "\nddbrun: stopping: finishing the records in progress (press Ctrl-C again to abort)\n");
            queue_set(&p->q, &p->q.stopping);
        }
        if (p->o->progress && ticks % 10 == 0) print_progress(p, now_s() - started, 0);
    }
}

static void make_owner(processor *p)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    uint64_t r = retry_seed(p);
    snprintf(p->owner, sizeof p->owner, "%s/%ld/%08llx", host, (long)getpid(), (unsigned long long)(r & 0xffffffffu));
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
    result->errors = p->errors;
    result->error_count = p->error_count;
    result->errors_lost = p->errors_lost;
    p->errors = NULL;
}

static void cleanup(processor *p)
{
    for (int i = 0; p->workers && i < p->o->max_workers; i++) ddb_client_free(p->workers[i].client);
    ddb_client_free(p->producer_client);
    free(p->workers);
    queue_destroy(&p->q);
    pthread_mutex_destroy(&p->errors_lock);
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
    atomic_store(&p->workers_running, (int)p->o->max_workers);
    for (; started < p->o->max_workers; started++)
        if (pthread_create(&p->workers[started].thread, NULL, worker_main, &p->workers[started]) != 0) break;
    if (started < p->o->max_workers) {
        atomic_fetch_sub(&p->running_threads, p->o->max_workers - started);
        workers_gone(p, p->o->max_workers - started);
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
    make_owner(&p);
    pthread_mutex_init(&p.errors_lock, NULL);
    int queue_cap = o->queue_size > 0 ? o->queue_size : default_queue_size(o);
    p.workers = calloc((size_t)o->max_workers, sizeof *p.workers);
    if (queue_init(&p.q, queue_cap) != 0 || !p.workers) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the processor");
        cleanup(&p);
        return -1;
    }
    if (start_clients(&p, cfg, worker_data, err) != 0) {
        cleanup(&p);
        return -1;
    }
    sigset_t signals, old;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, &old);   /* the threads inherit it */
    double started = now_s();
    int workers = start_marker(&p, cfg, err) == 0 ? start_threads(&p, err) : -1;
    int failed_to_start = workers < o->max_workers;
    if (workers >= 0) supervise(&p, &signals, started);
    for (int i = 0; i < workers; i++) pthread_join(p.workers[i].thread, NULL);
    if (workers >= 0) pthread_join(p.producer, NULL);
    marker_finish(p.marker);   /* every pending mark reported (supervise waited for it) */
    /* a signal that came after the last check must not kill us on unblocking */
    struct timespec now = { 0, 0 };
    if (sigtimedwait(&signals, NULL, &now) > 0) p.interrupted = 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    collect(&p, result, started);
    if (o->summary) print_progress(&p, result->elapsed_s, 1);
    int rc = 0;
    if (workers < 0 || failed_to_start) rc = -1;
    else if (p.producer_failed) *err = p.producer_error, rc = -1;
    cleanup(&p);
    return rc;
}

void processor_result_free(processor_result *r)
{
    for (size_t i = 0; i < r->error_count; i++) {
        free(r->errors[i].account_id);
        free(r->errors[i].run_time);
        free(r->errors[i].message);
    }
    free(r->errors);
    r->errors = NULL;
    r->error_count = 0;
}
