#include "queue.h"

#include <stdlib.h>
#include <string.h>

int queue_init(queue *q, int cap)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->items = calloc((size_t)cap, sizeof *q->items);
    if (!q->items)
        return -1;
    q->cap = cap;
    return 0;
}

void queue_destroy(queue *q)
{
    for (int i = 0; i < q->count; i++)
        json_decref(q->items[(q->head + i) % q->cap]);
    free(q->items);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

static int queue_insert(queue *q, json_t *item, int front)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == q->cap) {
        while (q->count > q->cap / 2 && !q->stopping)
            pthread_cond_wait(&q->not_full, &q->lock);
    }
    int stopping = q->stopping;
    if (!stopping && front) {
        q->head = (q->head + q->cap - 1) % q->cap;
        q->items[q->head] = item;
    } else if (!stopping) {
        q->items[(q->head + q->count) % q->cap] = item;
    }
    if (!stopping) {
        q->count++;
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->lock);
    if (stopping) {
        json_decref(item);
        return -1;
    }
    return 0;
}

int queue_push(queue *q, json_t *item)
{
    return queue_insert(q, item, 0);
}

int queue_push_front(queue *q, json_t *item)
{
    return queue_insert(q, item, 1);
}

json_t *queue_pop(queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed && !q->stopping)
        pthread_cond_wait(&q->not_empty, &q->lock);
    json_t *item = NULL;
    if (q->count > 0 && !q->stopping) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        /* wake the producer only when half the queue is free, not per record */
        if (q->count == q->cap / 2)
            pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

static void queue_set_flag(queue *q, atomic_int *flag)
{
    pthread_mutex_lock(&q->lock);
    atomic_store(flag, 1);
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

void queue_close(queue *q)
{
    queue_set_flag(q, &q->closed);
}

void queue_stop(queue *q)
{
    queue_set_flag(q, &q->stopping);
}
