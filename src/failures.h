/* The failure report of a processor run: at most max_errors entries kept in
 * memory (so memory stays flat however many records fail), every failure
 * counted, and every failure appended as one JSON line to an optional file.
 * Thread-safe: one lock guards the list and the file. No Lua. */
#ifndef DDBRUN_FAILURES_H
#define DDBRUN_FAILURES_H

#include <pthread.h>
#include <stdio.h>

#include "record.h"

#define FAILURES_DEFAULT_MAX 1000

/* Keys are bytes with lengths, as in record_key: they may hold U+0000. */
typedef struct failure {
    char *account_id;
    size_t account_id_len;
    char *run_time;
    size_t run_time_len;
    const char *kind;           /* a static string: "callback", "timeout", "dynamodb", "lease", "invalid" */
    char *message;
    int attempts;
} failure;

typedef struct failures {
    pthread_mutex_t lock;
    failure *list;              /* owned */
    size_t count, cap, max;
    long total;                 /* every failure added */
    long lost;                  /* within max but not kept: out of memory */
    FILE *file;                 /* errors_file, appended to; NULL for none */
    long file_errors;           /* lines that could not be written */
} failures;

/* Keeps at most max entries; path (may be NULL or "") is opened for
 * appending. Returns 0, or -1 with err naming the file. */
int failures_init(failures *f, size_t max, const char *path, char *err, size_t errlen);

/* Records one failure (key and message copied; a NULL key or key field is
 * recorded as ""). Any thread. */
void failures_add(failures *f, const record_key *key, const char *kind, const char *message, int attempts);

/* Hands the kept entries to the caller (free each with failure_free_list). */
void failures_take(failures *f, failure **list, size_t *count);

/* Closes the file and frees what is left; f itself is the caller's. */
void failures_close(failures *f);

void failure_free_list(failure *list, size_t count);

#endif
