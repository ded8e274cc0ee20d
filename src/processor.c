#include "processor.h"

#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "marker.h"
#include "options.h"
#include "queue.h"

/* --- options --- */

/* One table for ddb.processor{...} and the PROCESSOR_* variables (progress
 * and summary take their own words below; table, index and client are the
 * binding's, shared with ddb.records). */
static const option_spec PROCESSOR_OPTIONS[] = {
    OPTION_WHOLE_SPEC("max_workers", "PROCESSOR_MAX_WORKERS", processor_options, max_workers, 1, 256, 5),
    OPTION_WHOLE_SPEC("max_retries", "PROCESSOR_MAX_RETRIES", processor_options, max_retries, 0, 100, 3),
    OPTION_WHOLE_SPEC("backoff_base_ms", "PROCESSOR_BACKOFF_BASE_MS", processor_options, backoff_base_ms,
                      0, 600000, 100),
    OPTION_NUMBER_SPEC("backoff_multiplier", "PROCESSOR_BACKOFF_MULTIPLIER", processor_options,
                       backoff_multiplier, 1, 10, 2),
    OPTION_WHOLE_SPEC("backoff_cap_ms", "PROCESSOR_BACKOFF_CAP_MS", processor_options, backoff_cap_ms,
                      0, 3600000, 20000),
    OPTION_WHOLE_SPEC("callback_retries", "PROCESSOR_CALLBACK_RETRIES", processor_options, callback_retries,
                      0, 100, 0),
    OPTION_WHOLE_SPEC("timeout_ms", "PROCESSOR_TIMEOUT_MS", processor_options, timeout_ms, 0, 86400000, 0),
    OPTION_WHOLE_SPEC("lease_ms", "PROCESSOR_LEASE_MS", processor_options, lease_ms, 0, 86400000, 0),
    OPTION_WHOLE_SPEC("queue_size", "PROCESSOR_QUEUE_SIZE", processor_options, queue_size, 0, 1000000, 0),
    OPTION_WHOLE_SPEC("page_size", "PROCESSOR_PAGE_SIZE", processor_options, page_size,
                      0, 1000000, PROCESSOR_DEFAULT_PAGE_SIZE),
    OPTION_WHOLE_SPEC("mark_concurrency", "PROCESSOR_MARK_CONCURRENCY", processor_options, mark_concurrency,
                      1, 1024, PROCESSOR_DEFAULT_MARK_CONCURRENCY),
    OPTION_WHOLE_SPEC("progress_interval_ms", "PROCESSOR_PROGRESS_INTERVAL_MS", processor_options,
                      progress_interval_ms, 100, 86400000, 10000),
    OPTION_WHOLE_SPEC("max_requests_per_s", "PROCESSOR_MAX_REQUESTS_PER_S", processor_options, max_requests_per_s,
                      0, 1000000, 0),
};

const option_table processor_option_table = OPTION_TABLE(PROCESSOR_OPTIONS);

/* PROCESSOR_PROGRESS: auto (a live line when stderr is a terminal), 1/on, 0/off, log. */
static int processor_progress_from_env(processor_options *o, char *err, size_t errlen)
{
    const char *v = getenv("PROCESSOR_PROGRESS");
    o->progress = isatty(STDERR_FILENO) ? PROCESSOR_PROGRESS_LINE : PROCESSOR_PROGRESS_OFF;
    if (!v || !*v || strcmp(v, "auto") == 0)
        return 0;
    if (strcmp(v, "1") == 0 || strcmp(v, "on") == 0)
        o->progress = PROCESSOR_PROGRESS_LINE;
    else if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
        o->progress = PROCESSOR_PROGRESS_OFF;
    else if (strcmp(v, "log") == 0)
        o->progress = PROCESSOR_PROGRESS_LOG;
    else {
        snprintf(err, errlen, "PROCESSOR_PROGRESS must be auto, on, off or log, not '%s'", v);
        return -1;
    }
    return 0;
}

/* PROCESSOR_SUMMARY: 1/on/text (the default), 0/off, json. */
static int processor_summary_from_env(processor_options *o, char *err, size_t errlen)
{
    const char *v = getenv("PROCESSOR_SUMMARY");
    o->summary = PROCESSOR_SUMMARY_TEXT;
    if (!v || !*v || strcmp(v, "1") == 0 || strcmp(v, "on") == 0 || strcmp(v, "text") == 0)
        return 0;
    if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
        o->summary = PROCESSOR_SUMMARY_OFF;
    else if (strcmp(v, "json") == 0)
        o->summary = PROCESSOR_SUMMARY_JSON;
    else {
        snprintf(err, errlen, "PROCESSOR_SUMMARY must be on, off or json, not '%s'", v);
        return -1;
    }
    return 0;
}

int processor_options_from_env(processor_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    options_defaults(o, &processor_option_table);
    if (options_from_env(o, &processor_option_table, err, errlen) != 0 ||
        record_table_from_env(&o->table, err, errlen) != 0)
        return -1;
    if (processor_progress_from_env(o, err, errlen) != 0 || processor_summary_from_env(o, err, errlen) != 0)
        return -1;
    return 0;
}

/* --- the run --- */

typedef struct processor_worker {
    processor *p;
    int index;
    void *data;
    ddb_client *client;
    pthread_t thread;
    atomic_long processed;
    atomic_long failed;
    atomic_long skipped;
} processor_worker;

struct processor {
    const processor_options *o;
    record_table table;              /* o->table with its layout read from DescribeTable */
    processor_callback cb;
    const ddb_config *cfg;           /* the marker's client is made from it */
    processor_hooks hooks;           /* all zero when the host gave none */
    queue q;
    retry_policy policy;             /* every DynamoDB call of the run, the GSI query included */
    char owner[160];                 /* lease owner: host/pid/random */
    pthread_mutex_t run_lock;        /* guards running_threads and started */
    pthread_cond_t run_changed;      /* signalled when a thread ends or a stop is requested */
    int running_threads;             /* workers, the producer and the marker still running */
    atomic_int workers_running;      /* the last worker out closes the marker */
    marker *marker;                  /* sends the marks of succeeded records (marker.h) */
    atomic_long marked;              /* final mark outcomes, counted on the marker thread */
    atomic_long mark_failed;
    atomic_long mark_skipped;
    double started;                  /* monotonic seconds at the start of the run, 0 before */
    atomic_int stop;                 /* processor_stop_reason of the first stop request */
    int ran;
    pthread_mutex_t errors_lock;     /* guards errors, error_count, error_cap, errors_lost */
    processor_error *errors;
    size_t error_count;
    size_t error_cap;
    long errors_lost;                /* errors that could not be recorded (out of memory) */
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

static long long processor_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Makes room for one more error; called with errors_lock held. */
static int processor_errors_reserve(processor *p)
{
    if (p->error_count < p->error_cap)
        return 0;
    size_t cap = p->error_cap ? p->error_cap * 2 : 64;
    processor_error *bigger = realloc(p->errors, cap * sizeof *bigger);
    if (!bigger)
        return -1;
    p->errors = bigger;
    p->error_cap = cap;
    return 0;
}

static void processor_add_key_error(processor *p, const char *acct, const char *rt, const char *kind,
                                    const char *message, int attempts)
{
    processor_error e = { strdup(acct ? acct : ""), strdup(rt ? rt : ""), kind, strdup(message), attempts };
    int stored = 0;
    pthread_mutex_lock(&p->errors_lock);
    if (e.account_id && e.run_time && e.message && processor_errors_reserve(p) == 0) {
        p->errors[p->error_count] = e;
        p->error_count++;
        stored = 1;
    } else {
        p->errors_lost++;
    }
    pthread_mutex_unlock(&p->errors_lock);
    if (stored)
        return;
    free(e.account_id);
    free(e.run_time);
    free(e.message);
}

static void processor_add_error(processor *p, const json_t *item, const char *kind, const char *message,
                                int attempts)
{
    processor_add_key_error(p, record_account_id(item, NULL), record_run_time(item, NULL), kind, message, attempts);
}

static void processor_add_ddb_key_error(processor *p, const char *acct, const char *rt, const char *what,
                                        const ddb_error *err)
{
    char msg[1400];
    snprintf(msg, sizeof msg, "%s: %s: %s", what, err->code, err->message);
    processor_add_key_error(p, acct, rt, "dynamodb", msg, err->attempts);
}

static void processor_add_ddb_error(processor *p, const json_t *item, const char *what, const ddb_error *err)
{
    processor_add_ddb_key_error(p, record_account_id(item, NULL), record_run_time(item, NULL), what, err);
}

/* Runs the callback, again up to callback_retries times while it errors. */
static processor_callback_result processor_run_callback(processor_worker *w, const json_t *item, char *msg,
                                                        size_t msglen, int *attempts)
{
    processor *p = w->p;
    processor_callback_result r;
    *attempts = 0;
    do {
        ++*attempts;
        msg[0] = '\0';
        r = p->cb(w->data, w->index, item, msg, msglen);
    } while (r == PROCESSOR_CALLBACK_ERROR && *attempts <= p->o->callback_retries && !atomic_load(&p->q.stopping));
    return r;
}

/* Claims the record when leases are on. Returns 1 to go on, 0 when it is not ours. */
static int processor_claim(processor_worker *w, const json_t *item, const record_key *key)
{
    processor *p = w->p;
    if (!p->o->lease_ms)
        return 1;
    ddb_error err;
    long long now = processor_wall_ms();
    record_mark_result r = record_claim(w->client, &p->table, key, p->owner, now + p->o->lease_ms, now,
                                        &p->policy, &err);
    if (r == RECORD_FAILED) {
        processor_add_ddb_error(p, item, "claiming the lease", &err);
        w->failed++;
    } else if (r == RECORD_NOT_MARKED) {
        w->skipped++;
    }
    return r == RECORD_MARKED;
}

/* --- asynchronous marks (marker.c calls these on its thread) --- */

/* Whether the mark of a record may be sent now; called when it is actually
 * sent, not when it was queued. Without leases always; with leases the
 * UpdateItem's own condition (LeaseOwner = us) is the check for now, and the
 * lease bookkeeping (expiry, heartbeats) fills this function in: returning 0
 * with err set gives the mark up as a "lease" error. */
static int processor_lease_still_held(void *ud, const record_key *key, ddb_error *err)
{
    (void)ud;
    (void)key;
    (void)err;
    return 1;
}

/* A mark's final outcome, counted as a synchronous mark was. */
static void processor_mark_done(void *ud, const record_key *key, record_mark_result m, const ddb_error *err)
{
    processor *p = ud;
    if (m == RECORD_MARKED) {
        atomic_fetch_add(&p->marked, 1);
    } else if (m == RECORD_NOT_MARKED && !p->o->lease_ms) {
        atomic_fetch_add(&p->mark_skipped, 1);   /* another process marked it first */
    } else if (m == RECORD_NOT_MARKED) {
        processor_add_key_error(p, key->account_id, key->run_time, "lease",
                                "the lease expired before the record was marked; it stays unprocessed", 1);
        atomic_fetch_add(&p->mark_failed, 1);
    } else {
        processor_add_ddb_key_error(p, key->account_id, key->run_time, "marking processed", err);
        atomic_fetch_add(&p->mark_failed, 1);
    }
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
        .owner = p->o->lease_ms ? p->owner : NULL,
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

/* Hands a record whose callback succeeded to the marker; the marker counts
 * the outcome (processor_mark_done) while the worker goes on. */
static void processor_mark(processor_worker *w, const json_t *item, const record_key *key)
{
    processor *p = w->p;
    ddb_error err;
    if (marker_submit(p->marker, key, &err) != 0) {
        processor_add_ddb_error(p, item, "marking processed", &err);
        w->failed++;
    }
}

/* Called as each worker ends (n at once for workers that never started):
 * the last one tells the marker that no more marks come. */
static void processor_workers_gone(processor *p, int n)
{
    if (atomic_fetch_sub(&p->workers_running, n) == n)
        marker_close(p->marker);
}

static void processor_process_one(processor_worker *w, const json_t *item)
{
    processor *p = w->p;
    record_key key;
    if (record_key_of(item, &key) != 0) {
        processor_add_error(p, item, "invalid", "the record has no AccountId or RunTime string", 0);
        w->failed++;
        return;
    }
    if (!processor_claim(w, item, &key))
        return;
    const char *owner = p->o->lease_ms ? p->owner : NULL;
    char msg[4096];
    int attempts;
    processor_callback_result r = processor_run_callback(w, item, msg, sizeof msg, &attempts);
    if (r == PROCESSOR_CALLBACK_OK) {
        processor_mark(w, item, &key);
        return;
    }
    if (r != PROCESSOR_CALLBACK_ABANDONED) {
        processor_add_error(p, item, r == PROCESSOR_CALLBACK_TIMEOUT ? "timeout" : "callback", msg, attempts);
        w->failed++;
    }
    ddb_error err;
    if (owner)
        record_release(w->client, &p->table, &key, owner, &p->policy, &err);
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

/* Hands a page's records to the queue; returns -1 once the queue stops. */
static int processor_enqueue_page(processor *p, json_t *items)
{
    for (size_t i = 0; i < json_array_size(items); i++) {
        /* Detach the item so the queue hands over its only reference:
         * jansson's counts are not safe to share between threads. */
        json_t *item = json_incref(json_array_get(items, i));
        json_array_set_new(items, i, json_null());
        if (queue_push(&p->q, item) != 0)
            return -1;
    }
    return 0;
}

/* Queries one page of q's shard after *start and queues its records. While
 * DynamoDB throttles, or the shared retry quota is empty, the run does not
 * end: it waits and asks again (other errors end it once the policy's
 * retries are spent). Returns 1 when the shard has no more pages, 0 when it
 * has, -1 on failure (p->producer_failed set) or once the queue stops. */
static int processor_producer_page(processor *p, record_query *q, json_t **start)
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
    int stopped = processor_enqueue_page(p, items);
    json_decref(items);
    if (stopped)
        return -1;
    return last ? 0 : 1;
}

/* Pages every shard of the index (one on the seed's layout), a page of each
 * in turn, so that no shard waits for another to be drained. */
static void *processor_producer_main(void *arg)
{
    processor *p = arg;
    int count = p->table.layout.shards > 0 ? p->table.layout.shards : 1;
    int left = count;
    json_t **starts = calloc((size_t)count, sizeof *starts);
    char *done = calloc((size_t)count, 1);
    record_query q = { .kind = RECORD_QUERY_UNPROCESSED, .limit = (int)p->o->page_size, .policy = &p->policy };
    if (!starts || !done) {
        ddb_error_set(&p->producer_error, "OutOfMemory", 0, "out of memory starting the producer");
        p->producer_failed = 1;
        left = 0;
    }
    while (left > 0 && !atomic_load(&p->q.stopping)) {
        for (q.shard = 0; q.shard < count && left > 0; q.shard++) {
            if (done[q.shard])
                continue;
            int rc = processor_producer_page(p, &q, &starts[q.shard]);
            if (rc < 0)
                left = 0;
            else if (rc == 1) {
                done[q.shard] = 1;
                left--;
            }
        }
    }
    for (int i = 0; starts && i < count; i++)
        json_decref(starts[i]);
    free(starts);
    free(done);
    queue_close(&p->q);
    processor_thread_ended(p);
    return NULL;
}

void processor_snapshot(processor *p, processor_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < p->o->max_workers; i++) {
        out->processed += atomic_load(&p->workers[i].processed);
        out->failed += atomic_load(&p->workers[i].failed);
        out->skipped += atomic_load(&p->workers[i].skipped);
    }
    out->processed += atomic_load(&p->marked);
    out->failed += atomic_load(&p->mark_failed);
    out->skipped += atomic_load(&p->mark_skipped);
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
static void processor_supervise(processor *p)
{
    long interval = p->hooks.progress ? p->hooks.progress_interval_ms : 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    processor_add_ms(&next, interval);
    pthread_mutex_lock(&p->run_lock);
    while (p->running_threads > 0) {
        if (interval <= 0) {
            pthread_cond_wait(&p->run_changed, &p->run_lock);
            continue;
        }
        if (pthread_cond_timedwait(&p->run_changed, &p->run_lock, &next) == 0 || !processor_reached(&next))
            continue;
        pthread_mutex_unlock(&p->run_lock);
        processor_stats s;
        processor_snapshot(p, &s);
        p->hooks.progress(p->hooks.host, &s);
        clock_gettime(CLOCK_MONOTONIC, &next);   /* a slow host skips ticks rather than bunching them */
        processor_add_ms(&next, interval);
        pthread_mutex_lock(&p->run_lock);
    }
    pthread_mutex_unlock(&p->run_lock);
}

static void processor_make_owner(processor *p)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    uint64_t r = retry_seed(p);
    snprintf(p->owner, sizeof p->owner, "%s/%ld/%08llx", host, (long)getpid(), (unsigned long long)(r & 0xffffffffu));
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
    pthread_mutex_init(&p->errors_lock, NULL);
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
    processor_make_owner(p);
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

static void processor_collect(processor *p, processor_result *result)
{
    processor_snapshot(p, &result->stats);
    result->stopped = processor_stop_requested(p);
    result->errors = p->errors;
    result->error_count = p->error_count;
    result->errors_lost = p->errors_lost;
    p->errors = NULL;
    p->error_count = 0;
}

int processor_run(processor *p, processor_result *result, ddb_error *err)
{
    memset(result, 0, sizeof *result);
    if (p->ran) {
        ddb_error_set(err, "InvalidState", 0, "a processor runs only once");
        return -1;
    }
    p->ran = 1;
    int workers = processor_start_threads(p, err);
    if (workers >= 0)
        processor_supervise(p);
    for (int i = 0; i < workers; i++)
        pthread_join(p->workers[i].thread, NULL);
    if (workers >= 0)
        pthread_join(p->producer, NULL);
    marker_finish(p->marker);   /* every pending mark reported (the run loop waited for it) */
    p->marker = NULL;
    processor_collect(p, result);
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
    pthread_mutex_destroy(&p->errors_lock);
    pthread_cond_destroy(&p->run_changed);
    free(p->errors);
    free(p);
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
