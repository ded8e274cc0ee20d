/* The record processor (the engine): one producer thread pages the
 * "Processed = 0" GSI into a bounded queue; max_workers threads take records
 * from it, run the caller's callback, and mark each record processed with a
 * conditional update. No Lua here: the callback is a function pointer with
 * per-worker data (the Lua binding gives every worker its own lua_State).
 * No terminal and no signals either: the host stops a run with
 * processor_request_stop (from a signal watcher, a callback, a lease
 * keeper...) and draws progress from the progress hook or snapshots. */
#ifndef DDBRUN_PROCESSOR_H
#define DDBRUN_PROCESSOR_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "failures.h"
#include "options.h"
#include "record.h"

/* Pages of 500 records: DynamoDB Local spends less per record than on 1 MB
 * pages, and memory stays flat (a 1 MB page parses to ~8 MB). */
#define PROCESSOR_DEFAULT_PAGE_SIZE 500
/* UpdateItems the marker keeps in flight: enough to cover a 5-10 ms round
 * trip (plus the marker's 4 ms batching) at the rate one DynamoDB Local or a
 * hot GSI key takes; 16 kept only 76% of the direct rate at a 5 ms RTT. */
#define PROCESSOR_DEFAULT_MARK_CONCURRENCY 32
/* Marks pending (queued, in flight, waiting out a back-off) at most, per
 * mark in flight: room for the workers to run ahead, so they are woken in
 * batches rather than once per finished mark. */
#define PROCESSOR_MARKS_PENDING_FACTOR 8

typedef enum {
    PROCESSOR_PROGRESS_OFF = 0,
    PROCESSOR_PROGRESS_LINE = 1,   /* a live line redrawn on stderr (a terminal) */
    PROCESSOR_PROGRESS_LOG = 2,    /* a plain line every progress_interval_ms (log files) */
} processor_progress_mode;

typedef enum {
    PROCESSOR_SUMMARY_OFF = 0,
    PROCESSOR_SUMMARY_TEXT = 1,    /* one human line on stderr */
    PROCESSOR_SUMMARY_JSON = 2,    /* one JSON object on one line on stderr */
} processor_summary_mode;

typedef struct processor_options {
    long max_workers;           /* 5 */
    long max_retries;           /* 3: DynamoDB retries after the first attempt (also the GSI query's) */
    long backoff_base_ms;       /* 100 */
    double backoff_multiplier;  /* 2 */
    long backoff_cap_ms;        /* 20000 */
    long callback_retries;      /* 0: extra runs of a failing callback */
    long timeout_ms;            /* 0: no per-record callback timeout */
    long lease_ms;              /* 0: no coordination (one write per record); else portion leases */
    long max_failures;          /* 0: unlimited; else failed runs before a record is parked */
    long max_errors;            /* 1000: failures listed in errors (all are counted) */
    long drain_timeout_ms;      /* 25000: after a stop signal, how long in-flight work may take */
    char errors_file[1024];     /* "": none; else every failure appended as a JSON line */
    long queue_size;            /* records buffered between producer and workers */
    long page_size;             /* Query Limit (500), 0 for DynamoDB's 1 MB pages */
    long mark_concurrency;      /* 32: marks in flight at once (see processor_run) */
    long progress_interval_ms;  /* 10000: how often PROCESSOR_PROGRESS=log prints */
    int progress;               /* processor_progress_mode; drawn by the host, not the engine */
    int summary;                /* processor_summary_mode; printed by the host */
    record_table table;
} processor_options;

/* The original project's defaults, overridden by PROCESSOR_* variables
 * (PROCESSOR_MAX_WORKERS for max_workers, ...; see .env.example). Returns 0
 * or -1 with the variable named in err. */
int processor_options_from_env(processor_options *o, char *err, size_t errlen);

/* The settings table of the processor's options (options.h), for
 * ddb.processor{...} and the PROCESSOR_* variables. */
extern const option_table processor_option_table;

typedef enum {
    PROCESSOR_CALLBACK_OK = 0,
    PROCESSOR_CALLBACK_ERROR = 1,
    PROCESSOR_CALLBACK_TIMEOUT = 2,
    PROCESSOR_CALLBACK_ABANDONED = 3,   /* the run is being stopped (the callback asked to exit):
                                           the record is neither marked nor counted */
} processor_callback_result;

/* Runs on worker `worker` (0-based) with that worker's data; item is the
 * record in DynamoDB's typed JSON, owned by the caller; lease is the fencing
 * token of the record's portion lease (-1 without leases). On failure it
 * writes the message into msg. */
typedef processor_callback_result (*processor_callback)(void *worker_data, int worker, const json_t *item,
                                                        long long lease, char *msg, size_t msglen);

/* Why a run stopped before the GSI ran dry. The host maps them to exit codes. */
typedef enum {
    PROCESSOR_STOP_NONE = 0,
    PROCESSOR_STOP_INTERRUPT = 1,   /* the user interrupted (SIGINT) */
    PROCESSOR_STOP_TERMINATE = 2,   /* the system asked to terminate (SIGTERM) */
    PROCESSOR_STOP_EXIT = 3,        /* a callback asked the process to exit (os.exit) */
    PROCESSOR_STOP_HOST = 4,        /* any other reason of the host's (lease lost, drain, tests) */
} processor_stop_reason;

/* Figures of a run so far; a snapshot, owned by whoever holds it. */
typedef struct processor_stats {
    long processed;
    long failed;
    long skipped;
    long parked;                /* parked by this run (max_failures reached) */
    double elapsed_s;
    double consumed_wcu;        /* capacity units of the processor's own requests, leases included; */
    double consumed_rcu;        /*   in the final result only (0 in a live snapshot) */
    double lease_wcu;           /* of which the lease thread's (heartbeats, takes, reads) */
    double lease_rcu;
    int capacity_metered;       /* 1 in the final result: the requests asked for ConsumedCapacity */
    int unfinished;             /* callbacks still running when a drain timed out */
} processor_stats;

/* kind: "callback", "timeout", "dynamodb", "lease" (lost before marking) or
 * "invalid" (no key strings) */
typedef failure processor_error;

typedef struct processor_result {
    processor_stats stats;
    processor_stop_reason stopped;   /* NONE when the run went to the end */
    processor_error *errors;    /* failed entries, owned; free with processor_result_free */
    size_t error_count;
    long errors_lost;           /* failures counted in `failed` but not listed (out of memory) */
} processor_result;

/* The host's view of a run. progress, when set, is called every
 * progress_interval_ms on the thread that called processor_run, with a
 * snapshot; it must not call processor_run or processor_free. */
typedef struct processor_hooks {
    void (*progress)(void *host, const processor_stats *stats);
    void *host;
    long progress_interval_ms;
} processor_hooks;

typedef struct processor processor;

/* A processor ready to run: one DynamoDB client per worker and one for the
 * producer. worker_data has o->max_workers entries; o, cfg, worker_data and
 * hooks (may be NULL) must outlive the processor. Returns NULL with err set. */
processor *processor_new(const processor_options *o, const ddb_config *cfg, processor_callback cb,
                         void **worker_data, const processor_hooks *hooks, ddb_error *err);

/* Processes every unprocessed record: the producer pages the GSI with the
 * processor's retry policy and the workers run the callback; a worker whose
 * callback succeeded hands the mark to the marker (marker.h) and goes on.
 * Records in flight are bounded: max_workers callbacks plus
 * PROCESSOR_MARKS_PENDING_FACTOR x mark_concurrency pending marks (a worker
 * waits for room). Returns when the GSI is exhausted, the queue drained and
 * every pending mark reported, or after a stop request once the callbacks in
 * flight finished and all pending marks were sent and reported (drained,
 * retries included). The engine installs no signal handler and writes
 * nothing to the terminal.
 * Returns 0 with *result filled (record failures are in result->errors), or
 * -1 with err set when the threads could not start or the GSI could not be
 * read even with retries; *result then holds what was done before (free it
 * either way). Runs once per processor. */
int processor_run(processor *p, processor_result *result, ddb_error *err);

/* Asks the run to stop taking records; the first reason wins. Callable from
 * any thread (not from a signal handler), before or during processor_run. */
void processor_request_stop(processor *p, processor_stop_reason why);

/* The reason of the first stop request, NONE when there was none. Any thread. */
processor_stop_reason processor_stop_requested(processor *p);

/* Figures so far. Any thread. */
void processor_snapshot(processor *p, processor_stats *out);

/* Frees p and its clients; p must not be running. NULL is fine. */
void processor_free(processor *p);

/* Frees the error list; r itself is the caller's. */
void processor_result_free(processor_result *r);

#endif
