#include "lease_state.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* --- the producer --- */

/* A portion wants a pass when it is held and not passed over in its current
 * epoch; only once none of its records is queued, so that no record is
 * queued twice. */
static int lease_pass_wants(const lease_portion *p)
{
    return p->held && !p->releasing && p->pass_epoch != p->epoch && p->done_epoch != p->epoch && p->inflight == 0;
}

/* Under the lock: a record of a portion still held was given up because the
 * lease's validity lapsed (slow heartbeats); the portion is read again in a
 * later pass rather than left for the next run. */
static void lease_needs_pass_again(lease_portion *p)
{
    if (p->held && !p->releasing) {
        p->done_epoch = LEASE_NO_EPOCH;
        p->pass_epoch = LEASE_NO_EPOCH;
    }
}

unsigned lease_pass_begin(lease_set *l)
{
    pthread_mutex_lock(&l->lock);
    unsigned id = ++l->passes;
    for (int i = 0; i < l->portions; i++) {
        lease_portion *p = &l->p[i];
        if (lease_pass_wants(p)) {
            p->pass_epoch = p->epoch;
            p->pass_id = id;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return id;
}

int lease_pass_pending(lease_set *l)
{
    int n = 0;
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->portions; i++) n += lease_pass_wants(&l->p[i]);
    pthread_mutex_unlock(&l->lock);
    return n;
}

lease_class lease_classify(lease_set *l, unsigned pass, int portion)
{
    pthread_mutex_lock(&l->lock);
    lease_portion *p = &l->p[portion];
    lease_class c;
    int current = p->held && !p->releasing && p->pass_epoch == p->epoch;
    if (p->held && !p->releasing && p->done_epoch == p->epoch) {
        c = LEASE_MINE_DONE;
        if (p->inflight == 0)
            p->leftover++;   /* all its records are done here: this one failed, or was lost */
    }
    else if (current && p->pass_id == pass) c = LEASE_MINE;
    else if (current) c = LEASE_MINE_DONE;   /* another pass queues it */
    else if (p->held) c = LEASE_BUSY;        /* taken since (the next pass queues it), or shed */
    else c = p->exists && p->swept && *p->owner ? LEASE_DONE : LEASE_BUSY;
    pthread_mutex_unlock(&l->lock);
    return c;
}

int lease_enqueue(lease_set *l, int portion)
{
    pthread_mutex_lock(&l->lock);
    lease_portion *p = &l->p[portion];
    int ok = p->held && !p->releasing;
    if (ok) p->inflight++;
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void lease_pass_end(lease_set *l, unsigned pass, int outer)
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->portions; i++) {
        lease_portion *p = &l->p[i];
        if (p->held && !p->releasing && p->pass_epoch == p->epoch && p->pass_id == pass)
            p->done_epoch = p->epoch;
        /* more records left than failed here: some were given up on the way
         * (a lapse, a hand-back race); read the portion again */
        if (outer && p->held && !p->releasing && p->done_epoch == p->epoch && p->leftover > p->failed)
            lease_needs_pass_again(p);
        if (outer)
            p->leftover = 0;
    }
    pthread_mutex_unlock(&l->lock);
}

void lease_record_failed(lease_set *l, int portion)
{
    pthread_mutex_lock(&l->lock);
    l->p[portion].failed++;
    pthread_mutex_unlock(&l->lock);
}

void lease_wait_ticks(lease_set *l, int ticks, atomic_int *stop)
{
    pthread_mutex_lock(&l->lock);
    unsigned until = l->ticks + (unsigned)ticks;
    while ((int)(until - l->ticks) > 0 && !(stop && atomic_load(stop)) && l->thread_started) {
        lease_wait_ticked(l, 50);   /* wake up to look at *stop */
    }
    pthread_mutex_unlock(&l->lock);
}

static int lease_inflight(lease_set *l)
{
    int n = 0;
    for (int i = 0; i < l->portions; i++)
        n += l->p[i].inflight;
    return n;
}

void lease_wait_drained(lease_set *l, atomic_int *stop)
{
    pthread_mutex_lock(&l->lock);
    while (lease_inflight(l) > 0 && !(stop && atomic_load(stop)) && l->thread_started) {
        lease_wait_ticked(l, 20);
    }
    pthread_mutex_unlock(&l->lock);
}

/* --- the workers --- */

/* Under the lock: waits while the portion is held but its validity has run
 * out (a heartbeat was slow or failed), until a heartbeat renews it or shows
 * it lost, at most two lease periods. A successful heartbeat is conditional
 * on our ownership, so nobody else held the portion in between. */
static void lease_wait_renewal(lease_set *l, lease_portion *p)
{
    long long give_up = lease_now_ms() + 2 * l->lease_ms;
    while (p->held && lease_now_ms() >= p->valid_until_ms && lease_now_ms() < give_up && l->thread_started &&
           !l->stopping) {
        lease_wait_ticked(l, 50);
    }
}

int lease_begin(lease_set *l, int portion, long long *token)
{
    pthread_mutex_lock(&l->lock);
    lease_portion *p = &l->p[portion];
    if (!p->releasing) lease_wait_renewal(l, p);
    int ok = p->held && !p->releasing && lease_now_ms() < p->valid_until_ms;
    if (!ok)
        lease_needs_pass_again(p);
    *token = p->token;
    pthread_mutex_unlock(&l->lock);
    return ok;
}

int lease_check(lease_set *l, int portion)
{
    pthread_mutex_lock(&l->lock);
    lease_wait_renewal(l, &l->p[portion]);
    int ok = l->p[portion].held && lease_now_ms() < l->p[portion].valid_until_ms;
    if (!ok)
        lease_needs_pass_again(&l->p[portion]);
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void lease_end(lease_set *l, int portion)
{
    pthread_mutex_lock(&l->lock);
    l->p[portion].inflight--;
    pthread_mutex_unlock(&l->lock);
}

void lease_get_stats(lease_set *l, lease_stats *s)
{
    pthread_mutex_lock(&l->lock);
    *s = l->stats;
    pthread_mutex_unlock(&l->lock);
}
