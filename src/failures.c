#include "failures.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int failures_init(failures *f, size_t max, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->max = max;
    if (path && *path && !(f->file = fopen(path, "a"))) {
        snprintf(err, errlen, "errors_file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* One JSON line with the fields of an errors entry. */
static void failures_write_line(failures *f, const record_key *key, const char *kind, const char *message,
                                int attempts)
{
    json_t *line = json_pack("{s:s%,s:s%,s:s,s:s,s:i}", "AccountId", key->account_id, key->account_id_len, "RunTime",
                             key->run_time, key->run_time_len, "kind", kind, "error", message, "attempts", attempts);
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(line);
    if (!text || fprintf(f->file, "%s\n", text) < 0 || fflush(f->file) != 0) f->file_errors++;
    free(text);
}

/* A malloc'd copy of len bytes, NUL-terminated for printing. */
static char *failures_copy(const char *bytes, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, bytes, len);
        copy[len] = '\0';
    }
    return copy;
}

static void failures_keep(failures *f, const record_key *key, const char *kind, const char *message, int attempts)
{
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        if (cap > f->max) cap = f->max;
        failure *bigger = realloc(f->list, cap * sizeof *bigger);
        if (!bigger) {
            f->lost++;
            return;
        }
        f->list = bigger;
        f->cap = cap;
    }
    failure e = { failures_copy(key->account_id, key->account_id_len), key->account_id_len,
                  failures_copy(key->run_time, key->run_time_len), key->run_time_len, kind, strdup(message), attempts };
    if (!e.account_id || !e.run_time || !e.message) {
        free(e.account_id);
        free(e.run_time);
        free(e.message);
        f->lost++;
        return;
    }
    f->list[f->count++] = e;
}

void failures_add(failures *f, const record_key *key, const char *kind, const char *message, int attempts)
{
    record_key k = { "", 0, "", 0 };
    if (key && key->account_id) {
        k.account_id = key->account_id;
        k.account_id_len = key->account_id_len;
    }
    if (key && key->run_time) {
        k.run_time = key->run_time;
        k.run_time_len = key->run_time_len;
    }
    pthread_mutex_lock(&f->lock);
    f->total++;
    if (f->count < f->max) failures_keep(f, &k, kind, message, attempts);
    if (f->file) failures_write_line(f, &k, kind, message, attempts);
    pthread_mutex_unlock(&f->lock);
}

void failures_take(failures *f, failure **list, size_t *count)
{
    pthread_mutex_lock(&f->lock);
    *list = f->list;
    *count = f->count;
    f->list = NULL;
    f->count = f->cap = 0;
    pthread_mutex_unlock(&f->lock);
}

void failures_close(failures *f)
{
    if (f->file) fclose(f->file);
    f->file = NULL;
    failure_free_list(f->list, f->count);
    f->list = NULL;
    f->count = f->cap = 0;
    pthread_mutex_destroy(&f->lock);
}

void failure_free_list(failure *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i].account_id);
        free(list[i].run_time);
        free(list[i].message);
    }
    free(list);
}
