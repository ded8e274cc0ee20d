/* How a processor run is shown to people and machines: the live progress
 * line, the plain progress line for logs, and the final summary as text or as
 * one JSON object. No Lua; the host (bind_processor.c) decides when. */
#ifndef DDBRUN_REPORT_H
#define DDBRUN_REPORT_H

#include <stdio.h>

#include "client.h"
#include "processor.h"

/* How many error kinds the JSON summary lists (the most frequent first). */
#define REPORT_MAX_ERROR_KINDS 5

/* Redraws one terminal line: "\r\033[K12 processed · 0 skipped · ...". */
void report_progress_line(FILE *f, const processor_stats *s);

/* One plain line for log files: "ddbrun: progress: 12 processed, ...\n". */
void report_progress_log(FILE *f, const processor_stats *s);

/* "ddbrun: processed 12, skipped 0, failed 1 in 0.4 s (30 records/s); consumed 36.0 WCU, 0.5 RCU\n"
 * (", parked N" before the ";" when records were parked);
 * clear_line first erases a live progress line. */
void report_summary_text(FILE *f, const processor_result *r, int clear_line);

/* The summary as one JSON line (fields in the README). fatal (may be NULL)
 * is the error that ended the run early. Returns 0, or -1 when out of memory
 * (nothing is written then). */
int report_summary_json(FILE *f, const processor_result *r, const ddb_error *fatal);

/* The text of a stop reason ("interrupt", "terminate", "exit", "host"), NULL for none. */
const char *report_stop_name(processor_stop_reason why);

#endif
