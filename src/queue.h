/* The bounded queue between the processor's producer and its workers. No Lua.
 * The producer pushes records (it hands over its only reference); workers pop
 * them. Closing it ends the workers once it is empty; stopping it ends them at
 * once and drops what is queued. All functions are thread-safe. */
#ifndef DDBRUN_QUEUE_H
#define DDBRUN_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>

typedef struct queue {
    pthread_mutex_t lock;       /* guards items, head and count */
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    json_t **items;
    int cap;
    int head;
    int count;
    atomic_int closed;          /* the producer is done */
    atomic_int stopping;        /* take no more records */
} queue;

/* Always leaves q destroyable, even when the allocation fails (returns -1). */
int queue_init(queue *q, int cap);

/* Drops what is still queued and frees q's memory (q itself is the caller's). */
void queue_destroy(queue *q);

/* Takes ownership of item. Returns -1 (and drops it) once stopping. Blocks
 * while the queue is full until half of it is free. */
int queue_push(queue *q, json_t *item);

/* The same, ahead of every queued record (a portion taken over). */
int queue_push_front(queue *q, json_t *item);

/* The next record (the caller owns it), or NULL when closed and empty, or stopping. */
json_t *queue_pop(queue *q);

/* No more pushes: workers end once the queue is empty. */
void queue_close(queue *q);

/* Take no more records: pushes fail, pops return NULL. */
void queue_stop(queue *q);

#endif
