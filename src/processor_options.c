/* The processor's options: one table for ddb.processor{...} and the
 * PROCESSOR_* variables, and their reading from the environment. */
#include "processor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failures.h"
#include "options.h"

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
    OPTION_WHOLE_SPEC("max_failures", "PROCESSOR_MAX_FAILURES", processor_options, max_failures, 0, 1000000, 0),
    OPTION_WHOLE_SPEC("max_errors", "PROCESSOR_MAX_ERRORS", processor_options, max_errors, 0, 10000000,
                      FAILURES_DEFAULT_MAX),
    OPTION_WHOLE_SPEC("drain_timeout_ms", "PROCESSOR_DRAIN_TIMEOUT_MS", processor_options, drain_timeout_ms,
                      0, 86400000, 25000),
    OPTION_STRING_SPEC("errors_file", "PROCESSOR_ERRORS_FILE", processor_options, errors_file),
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
