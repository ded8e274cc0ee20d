#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The first line of an error message, cut to fit a log line. */
#define REPORT_MESSAGE_MAX 200

static double report_rate(const processor_stats *s)
{
    return s->elapsed_s > 0 ? s->processed / s->elapsed_s : 0;
}

void report_progress_line(FILE *f, const processor_stats *s)
{
    fprintf(f, "\r\033[K%ld processed · %ld skipped · %ld failed · %.0f rec/s · %.1f s",
            s->processed, s->skipped, s->failed, report_rate(s), s->elapsed_s);
    fflush(f);
}

void report_progress_log(FILE *f, const processor_stats *s)
{
    fprintf(f, "ddbrun: progress: %ld processed, %ld skipped, %ld failed, %.0f records/s, %.1f s\n",
            s->processed, s->skipped, s->failed, report_rate(s), s->elapsed_s);
    fflush(f);
}

void report_summary_text(FILE *f, const processor_result *r, int clear_line)
{
    const processor_stats *s = &r->stats;
    fprintf(f, "%sddbrun: processed %ld, skipped %ld, failed %ld in %.1f s (%.0f records/s)",
            clear_line ? "\r\033[K" : "", s->processed, s->skipped, s->failed, s->elapsed_s, report_rate(s));
    if (s->parked)
        fprintf(f, ", parked %ld", s->parked);
    if (s->capacity_metered)
        fprintf(f, "; consumed %.1f WCU, %.1f RCU", s->consumed_wcu, s->consumed_rcu);
    fputc('\n', f);
    fflush(f);
}

const char *report_stop_name(processor_stop_reason why)
{
    switch (why) {
    case PROCESSOR_STOP_INTERRUPT: return "interrupt";
    case PROCESSOR_STOP_TERMINATE: return "terminate";
    case PROCESSOR_STOP_EXIT: return "exit";
    case PROCESSOR_STOP_HOST: return "host";
    case PROCESSOR_STOP_NONE: break;
    }
    return NULL;
}

typedef struct report_kind {
    const char *kind;
    long count;
    const char *first;      /* the first message of this kind */
} report_kind;

/* Counts the errors by kind (a handful of static strings), most frequent first. */
static size_t report_count_kinds(const processor_result *r, report_kind *kinds, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < r->error_count; i++) {
        size_t k = 0;
        while (k < n && strcmp(kinds[k].kind, r->errors[i].kind) != 0)
            k++;
        if (k == n && n == max)
            continue;
        if (k == n) {
            kinds[n] = (report_kind){ r->errors[i].kind, 0, r->errors[i].message };
            n++;
        }
        kinds[k].count++;
    }
    for (size_t i = 1; i < n; i++) {   /* insertion sort: n is tiny */
        report_kind k = kinds[i];
        size_t j = i;
        for (; j > 0 && kinds[j - 1].count < k.count; j--)
            kinds[j] = kinds[j - 1];
        kinds[j] = k;
    }
    return n;
}

/* The first line of message, at most REPORT_MESSAGE_MAX bytes, cut on a UTF-8
 * character boundary; NULL when it is not valid UTF-8. */
static json_t *report_short_message(const char *message)
{
    size_t len = strcspn(message, "\n");
    if (len > REPORT_MESSAGE_MAX) {
        len = REPORT_MESSAGE_MAX;
        while (len > 0 && ((unsigned char)message[len] & 0xC0) == 0x80)
            len--;
    }
    return json_stringn(message, len);
}

static json_t *report_error_kinds(const processor_result *r)
{
    report_kind kinds[16];
    size_t n = report_count_kinds(r, kinds, sizeof kinds / sizeof *kinds);
    json_t *list = json_array();
    for (size_t i = 0; list && i < n && i < REPORT_MAX_ERROR_KINDS; i++) {
        json_t *e = json_pack("{s:s, s:I}", "kind", kinds[i].kind, "count", (json_int_t)kinds[i].count);
        json_t *first = report_short_message(kinds[i].first);
        if (e && first)
            json_object_set(e, "message", first);
        json_decref(first);
        json_array_append_new(list, e);
    }
    return list;
}

/* Numbers with a whole number of milliseconds (or hundredths), not 17 digits. */
static json_t *report_real(double v, double scale)
{
    return json_real(round(v * scale) / scale);
}

static json_t *report_capacity(const processor_stats *s, double units)
{
    return s->capacity_metered ? report_real(units, 10) : json_null();
}

int report_summary_json(FILE *f, const processor_result *r, const ddb_error *fatal)
{
    const processor_stats *s = &r->stats;
    const char *stopped = report_stop_name(r->stopped);
    int interrupted = r->stopped == PROCESSOR_STOP_INTERRUPT || r->stopped == PROCESSOR_STOP_TERMINATE;
    char fatal_text[1400] = "";
    if (fatal)
        snprintf(fatal_text, sizeof fatal_text, "%s: %s", fatal->code, fatal->message);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:b, s:s?, s:o, s:I, s:s?}",
                          "processed", (json_int_t)s->processed, "failed", (json_int_t)s->failed,
                          "skipped", (json_int_t)s->skipped, "parked", (json_int_t)s->parked,
                          "elapsed_s", report_real(s->elapsed_s, 1000),
                          "records_per_s", report_real(report_rate(s), 100),
                          "consumed_wcu", report_capacity(s, s->consumed_wcu),
                          "consumed_rcu", report_capacity(s, s->consumed_rcu),
                          "interrupted", interrupted, "stopped", stopped,
                          "errors", report_error_kinds(r), "errors_lost", (json_int_t)r->errors_lost,
                          "error", fatal ? fatal_text : NULL);
    if (!o)
        return -1;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!text)
        return -1;
    fprintf(f, "%s\n", text);
    fflush(f);
    free(text);
    return 0;
}
