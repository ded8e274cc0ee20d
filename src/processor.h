/* The record processor: one producer thread pages the "Processed = 0" GSI into
 * a bounded queue; max_workers threads take records from it, run the caller's
 * callback, and mark each record processed with a conditional update. No Lua
 * here: the callback is a function pointer with per-worker data (the Lua
 * binding gives every worker its own lua_State). */
#ifndef DDBRUN_PROCESSOR_H
#define DDBRUN_PROCESSOR_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "failures.h"
#include "record.h"

/* Pages of 500 records: DynamoDB Local spends less per record than on 1 MB
 * pages, and memory stays flat (a 1 MB page parses to ~8 MB). */
#define PROCESSOR_DEFAULT_PAGE_SIZE 500

typedef struct processor_options {
    long max_workers;           /* 5 */
    long max_retries;           /* 3: DynamoDB retries after the first attempt */
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
    int progress;               /* live progress line on stderr: 1 on, 0 off */
    int summary;                /* final summary line on stderr */
    record_table table;
} processor_options;

/* The original project's defaults, overridden by PROCESSOR_* variables
 * (PROCESSOR_MAX_WORKERS for max_workers, ...; see .env.example). Returns 0
 * or -1 with the variable named in err. */
int processor_options_from_env(processor_options *o, char *err, size_t errlen);

/* Sets the whole-number option `name` (max_workers, timeout_ms, ...) to v.
 * Returns 1 when set, 0 when there is no such option, -1 with err set
 * ("<label> must be a whole number from A to B") when v is out of range. */
int processor_option_set(processor_options *o, const char *name, long v, const char *label,
                         char *err, size_t errlen);

typedef enum {
    PROCESSOR_CALLBACK_OK = 0,
    PROCESSOR_CALLBACK_ERROR = 1,
    PROCESSOR_CALLBACK_TIMEOUT = 2,
} processor_callback_result;

/* Runs on worker `worker` (0-based) with that worker's data; item is the
 * record in DynamoDB's typed JSON, owned by the caller; lease is the fencing
 * token of the record's portion lease (-1 without leases). On failure it
 * writes the message into msg. */
typedef processor_callback_result (*processor_callback)(void *worker_data, int worker, const json_t *item,
                                                        long long lease, char *msg, size_t msglen);

/* kind: "callback", "timeout", "dynamodb", "lease" (lost before marking) or
 * "invalid" (no key strings) */
typedef failure processor_error;

typedef struct processor_result {
    long processed, failed, skipped;
    long parked;                /* records parked by this run (max_failures reached) */
    double elapsed_s;
    double consumed_wcu, consumed_rcu;   /* the processor's own requests, leases included */
    double lease_wcu, lease_rcu;         /* of which the lease thread's (heartbeats, takes, reads) */
    int unfinished;             /* callbacks still running when a drain timed out */
    int interrupted;            /* stopped early by SIGINT/SIGTERM */
    processor_error *errors;    /* failed entries, owned; free with processor_result_free */
    size_t error_count;
    long errors_lost;           /* failures counted in `failed` but not listed (out of memory) */
} processor_result;

/* Processes every unprocessed record. worker_data has max_workers entries.
 * SIGINT/SIGTERM are handled while it runs: the first stops taking records
 * and lets in-flight callbacks finish, a second exits the process at once
 * (nothing unfinished is marked). Returns 0 with *result filled (record
 * failures are in result->errors), or -1 with err set when the run could not
 * start or the GSI could not be read; *result then holds what was done before
 * (free it either way). */
int processor_run(const processor_options *o, const ddb_config *cfg, processor_callback cb,
                  void **worker_data, processor_result *result, ddb_error *err);

/* Frees the error list; r itself is the caller's. */
void processor_result_free(processor_result *r);

#endif
