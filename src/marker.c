/* The marker thread: a loop over one curl multi handle driven with
 * curl_multi_socket_action and epoll, so curl touches only the sockets that
 * are ready (curl_multi_perform would poll every transfer's socket on every
 * turn). Marks arrive on a locked list (`incoming`), move to the thread's
 * own `ready` list, are sent from a free slot in turn (a retry waits out its
 * back-off on the `backoff` list first), and are reported when they finish
 * for good. Linux only (epoll, eventfd). */
#include "marker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <curl/curl.h>

#include "throttle.h"

#define MARKER_BODY 1024
#define MARKER_IDLE_WAIT_MS 1000
#define MARKER_EVENTS 64
/* With several marks in flight the thread wakes at most this often and takes
 * the answers that came meanwhile in one go: one wake-up per answer costs
 * more client CPU than the mark itself, and 4 ms is small next to the time
 * a busy server or a network round trip takes. */
#define MARKER_BATCH_NS 4000000LL

typedef struct marker_mark {
    struct marker_mark *next;
    int attempts;
    int uncertain;              /* an earlier attempt may have been applied */
    int clock_corrected;        /* sent again once after a clock-skew answer */
    int retry_cost;             /* retry-quota tokens its retries took, refunded on success */
    long long due_ms;           /* monotonic ms before which it is not sent */
    record_key key;             /* points into bytes */
    char bytes[];               /* account_id NUL run_time NUL (either may hold NUL itself) */
} marker_mark;

typedef struct marker_fd {
    int events;                 /* EPOLLIN/EPOLLOUT registered, -1 when not in the set */
    int wanted;                 /* curl waits on it (not back in its pool) */
} marker_fd;

typedef struct marker_slot {
    http_conn *http;
    marker_mark *mark;          /* the mark in flight, NULL when free */
    char *heap_body;            /* the body when it did not fit body[] */
    char body[MARKER_BODY];
    http_response resp;
    double sent_s;              /* throttle_before_send's time, for throttle_after_response */
} marker_slot;

struct marker {
    marker_settings s;
    ddb_client *client;         /* signs; its own connection stays unused */
    throttle *throttle;         /* borrowed from the config: the process's quota and limiter */
    throttle_bucket *cap;       /* borrowed from the config: max_requests_per_s, NULL for none */
    CURLM *multi;
    int epoll_fd;
    int wake_fd;                /* eventfd: a submitter or marker_close wakes the thread */
    long long curl_due_ms;      /* when curl wants a timeout call, -1 for never */
    long long woke_ns;          /* when epoll_wait last returned */
    marker_fd *fds;             /* by socket number, fd_cap of them */
    int fd_cap;
    marker_slot *slots;
    int *free_slots;            /* indices of the slots with no transfer */
    int free_count;
    pthread_t thread;
    int started;
    atomic_int drained;
    pthread_mutex_t lock;       /* guards the fields down to `sleeping` */
    pthread_cond_t not_full;
    marker_mark *incoming, **incoming_tail;
    int pending;                /* submitted and not yet reported */
    int closing;
    int sleeping;               /* the thread waits in curl_multi_poll with a free slot */
    /* the marker thread's own */
    marker_mark *ready, **ready_tail;   /* to send, in order */
    marker_mark *backoff;       /* retries waiting for their due time (few) */
    int backoff_count;          /* each holds a slot's place: see marker_push_backoff */
    int active;
    uint64_t rng;
};

static long long marker_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long marker_now_ms(void)
{
    return marker_now_ns() / 1000000;
}

/* Sleeps out the rest of the batching interval while marks are in flight. */
static void marker_pace(marker *m)
{
    if (m->active * 2 < m->s.concurrency) return;   /* lightly loaded: answer at once */
    long long left = m->woke_ns + MARKER_BATCH_NS - marker_now_ns();
    if (left <= 0) return;
    struct timespec ts = { 0, (long)left };
    nanosleep(&ts, NULL);
}

/* --- outcomes --- */

/* Reports a mark's final result and frees it. */
static void marker_report(marker *m, marker_mark *mark, record_mark_result r, const ddb_error *err)
{
    m->s.on_done(m->s.ud, &mark->key, r, err);
    free(mark);
    pthread_mutex_lock(&m->lock);
    m->pending--;
    /* wake the submitters once half the room is free, not per mark */
    if (m->pending == m->s.capacity / 2) pthread_cond_broadcast(&m->not_full);
    pthread_mutex_unlock(&m->lock);
}


/* A mark waiting out its back-off keeps its place among the `concurrency`
 * marks in progress, as a worker sleeping out its back-off sends nothing:
 * otherwise a throttled mark's slot would go to a new mark at once and the
 * back-offs would not slow the marks down at all. */
static void marker_push_backoff(marker *m, marker_mark *mark)
{
    mark->next = m->backoff;
    m->backoff = mark;
    m->backoff_count++;
}

/* Whether a free slot may take a new mark (not a retry). */
static int marker_room_for_new(const marker *m)
{
    return m->free_count > m->backoff_count;
}

/* After a failed attempt: again after the back-off, or reported. */
static void marker_retry_or_report(marker *m, marker_mark *mark, ddb_error *err)
{
    err->attempts = mark->attempts;
    err->uncertain |= mark->uncertain;
    if (!err->retryable || mark->attempts >= m->s.policy.max_attempts) {
        marker_report(m, mark, record_mark_outcome(-1, err), err);
        return;
    }
    /* An empty quota fails a plain call fast, but a mark whose callback has
     * already succeeded waits out its back-off and tries again, as the
     * producer does: failing it would run the callback again next time. */
    mark->retry_cost += throttle_take_retry(m->throttle, strcmp(err->code, "TimeoutError") == 0);
    mark->uncertain |= err->uncertain || ddb_client_outcome_unknown(err);
    mark->due_ms = marker_now_ms() + retry_delay_ms(&m->s.policy, mark->attempts, &m->rng);
    marker_push_backoff(m, mark);
}

/* --- sending --- */

/* Sends mark's next attempt from slot; on failure the mark is retried or
 * reported. The cap and the adaptive limiter may make the thread wait here,
 * as they make a worker wait in ddb_client_call: the marks' sending rate is
 * what they limit. The lease check comes after that wait. */
static void marker_send(marker *m, marker_slot *slot, marker_mark *mark)
{
    ddb_error err;
    if (m->cap)
        throttle_bucket_acquire(m->cap);
    slot->sent_s = throttle_before_send(m->throttle);
    if (m->s.may_send && !m->s.may_send(m->s.ud, &mark->key, &err)) {
        marker_report(m, mark, RECORD_NOT_MARKED, &err);
        return;
    }
    mark->attempts++;
    int len = record_mark_body(m->s.table, &mark->key, slot->body, sizeof slot->body, &slot->heap_body);
    if (len < 0) {
        ddb_error_set(&err, "OutOfMemory", 0, "out of memory building an UpdateItem request");
        goto fail;
    }
    const char *body = slot->heap_body ? slot->heap_body : slot->body;
    if (ddb_client_begin(m->client, slot->http, "UpdateItem", body, (size_t)len, &slot->resp, &err) != 0)
        goto fail;
    if (curl_multi_add_handle(m->multi, http_handle(slot->http)) != CURLM_OK) {
        ddb_error_set(&err, "OutOfMemory", 0, "cannot start an UpdateItem transfer");
        goto fail;
    }
    slot->mark = mark;
    m->active++;
    return;
fail:
    throttle_after_response(m->throttle, 0, slot->sent_s);
    free(slot->heap_body);
    slot->heap_body = NULL;
    marker_retry_or_report(m, mark, &err);
}

/* Unlinks and returns a retry whose back-off is over, else the next ready mark, or NULL. */
static marker_mark *marker_take_due(marker *m, long long now)
{
    for (marker_mark **link = &m->backoff; *link; link = &(*link)->next) {
        marker_mark *mark = *link;
        if (mark->due_ms > now) continue;
        *link = mark->next;
        m->backoff_count--;
        return mark;
    }
    marker_mark *mark = marker_room_for_new(m) ? m->ready : NULL;
    if (mark) {
        m->ready = mark->next;
        if (!m->ready) m->ready_tail = &m->ready;
    }
    return mark;
}

/* Starts every due mark there is a free slot for. */
static void marker_start_due(marker *m)
{
    long long now = marker_now_ms();
    while (m->free_count > 0) {
        marker_mark *mark = marker_take_due(m, now);
        if (!mark) return;
        marker_slot *slot = &m->slots[m->free_slots[m->free_count - 1]];
        marker_send(m, slot, mark);
        if (slot->mark) m->free_count--;
    }
}

/* A transfer ended: the mark is reported or queued again. */
static void marker_complete(marker *m, CURL *handle, CURLcode result)
{
    int i = 0;
    while (i < m->s.concurrency && http_handle(m->slots[i].http) != handle) i++;
    if (i == m->s.concurrency) return;
    marker_slot *slot = &m->slots[i];
    marker_mark *mark = slot->mark;
    curl_multi_remove_handle(m->multi, handle);
    ddb_error err;
    int rc = ddb_client_end(m->client, slot->http, "UpdateItem", result, &slot->resp, NULL, &err);
    throttle_after_response(m->throttle, rc != 0 && retry_is_throttle(err.code), slot->sent_s);
    free(slot->heap_body);
    slot->heap_body = NULL;
    slot->mark = NULL;
    m->free_slots[m->free_count++] = i;
    m->active--;
    if (rc == 0) {
        throttle_success(m->throttle, mark->retry_cost);
        marker_report(m, mark, RECORD_MARKED, NULL);
    } else if (!mark->clock_corrected && ddb_client_correct_clock(m->client, &err)) {
        /* once per mark, as ddb_client_call does; not an attempt */
        mark->clock_corrected = 1;
        mark->attempts--;
        mark->due_ms = 0;
        marker_push_backoff(m, mark);
    } else {
        marker_retry_or_report(m, mark, &err);
    }
}

/* --- the thread --- */

/* Moves what the workers queued onto the thread's list; returns closing. */
static int marker_take_incoming(marker *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->incoming) {
        *m->ready_tail = m->incoming;
        m->ready_tail = m->incoming_tail;
        m->incoming = NULL;
        m->incoming_tail = &m->incoming;
    }
    int closing = m->closing;
    pthread_mutex_unlock(&m->lock);
    return closing;
}

/* The epoll registration of each socket: what it is registered for (-1 when
 * it is not in the set) and whether curl still waits on it. A connection
 * that goes back to curl's pool stays registered, so the next transfer on it
 * (the usual case) costs no epoll_ctl. */
static int marker_fd_track(marker *m, int fd)
{
    if (fd < m->fd_cap) return 0;
    int cap = m->fd_cap ? m->fd_cap : 64;
    while (cap <= fd) cap *= 2;
    marker_fd *bigger = realloc(m->fds, (size_t)cap * sizeof *bigger);
    if (!bigger) return -1;
    for (int i = m->fd_cap; i < cap; i++) bigger[i] = (marker_fd){ -1, 0 };
    m->fds = bigger;
    m->fd_cap = cap;
    return 0;
}

static void marker_fd_forget(marker *m, int fd)
{
    if (fd >= m->fd_cap || m->fds[fd].events < 0) return;
    epoll_ctl(m->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    m->fds[fd] = (marker_fd){ -1, 0 };
}

/* curl's socket callback: keeps the epoll set in step with what curl waits for. */
static int marker_on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *socketp)
{
    (void)easy;
    (void)socketp;
    marker *m = ud;
    if (marker_fd_track(m, fd) != 0) return -1;   /* curl fails the transfer */
    marker_fd *f = &m->fds[fd];
    f->wanted = what != CURL_POLL_REMOVE;
    if (!f->wanted) return 0;
    int events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (events == f->events) return 0;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (uint32_t)events;
    ev.data.fd = fd;
    if (epoll_ctl(m->epoll_fd, f->events < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) return -1;
    f->events = events;
    return 0;
}

/* curl closes a socket: the kernel drops it from the epoll set, and so do we
 * (its number will come back for another socket). */
static int marker_on_close(void *ud, curl_socket_t fd)
{
    marker *m = ud;
    if (fd < m->fd_cap) m->fds[fd] = (marker_fd){ -1, 0 };
    return close(fd);
}

static int marker_on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    (void)multi;
    marker *m = ud;
    m->curl_due_ms = timeout_ms < 0 ? -1 : marker_now_ms() + timeout_ms;
    return 0;
}

/* How long the thread may wait: not at all with a mark to send and a free
 * slot, else until curl's timer or the next back-off end. */
static int marker_wait_ms(marker *m)
{
    if (m->ready && marker_room_for_new(m)) return 0;
    long long now = marker_now_ms(), wait = MARKER_IDLE_WAIT_MS;
    if (m->curl_due_ms >= 0 && m->curl_due_ms - now < wait) wait = m->curl_due_ms - now;
    for (marker_mark *mark = m->free_count > 0 ? m->backoff : NULL; mark; mark = mark->next)
        if (mark->due_ms - now < wait) wait = mark->due_ms - now;
    return wait > 0 ? (int)wait : 0;
}

/* Waits for sockets, a wake-up or a timeout, and lets curl act on them. */
static void marker_wait(marker *m)
{
    int timeout = marker_wait_ms(m);
    pthread_mutex_lock(&m->lock);
    /* a submitter wakes the thread only when it could start the mark */
    if (m->incoming || m->closing) timeout = 0;
    int sleeping = m->sleeping = timeout > 0 && marker_room_for_new(m);
    pthread_mutex_unlock(&m->lock);
    struct epoll_event ev[MARKER_EVENTS];
    if (timeout > 0) marker_pace(m);
    int n = epoll_wait(m->epoll_fd, ev, MARKER_EVENTS, timeout);
    m->woke_ns = marker_now_ns();
    if (sleeping) {
        pthread_mutex_lock(&m->lock);
        m->sleeping = 0;
        pthread_mutex_unlock(&m->lock);
    }
    int running;
    for (int i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        if (fd == m->wake_fd) {
            uint64_t count;
            if (read(m->wake_fd, &count, sizeof count) < 0) {}   /* only resets the eventfd */
            continue;
        }
        if (!m->fds[fd].wanted) {   /* an idle pooled connection: closing, or stray bytes */
            marker_fd_forget(m, fd);
            continue;
        }
        int flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                  | (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(m->multi, ev[i].data.fd, flags, &running);
    }
    if (m->curl_due_ms >= 0 && m->curl_due_ms <= marker_now_ms()) {
        m->curl_due_ms = -1;
        curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

static void *marker_main(void *arg)
{
    marker *m = arg;
    for (;;) {
        int closing = marker_take_incoming(m);
        marker_start_due(m);
        if (closing && !m->active && !m->ready && !m->backoff) break;
        marker_wait(m);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m->multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE) marker_complete(m, msg->easy_handle, msg->data.result);
    }
    atomic_store(&m->drained, 1);
    if (m->s.on_end) m->s.on_end(m->s.ud);
    return NULL;
}

static void marker_wake(marker *m)
{
    uint64_t one = 1;
    if (write(m->wake_fd, &one, sizeof one) < 0) {}   /* already signalled: fine */
}

/* --- the interface --- */

int marker_submit(marker *m, const record_key *key, ddb_error *err)
{
    size_t a = key->account_id_len;
    size_t r = key->run_time_len;
    marker_mark *mark = malloc(sizeof *mark + a + r + 2);
    if (!mark) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory queueing a mark");
        return -1;
    }
    memset(mark, 0, sizeof *mark);
    memcpy(mark->bytes, key->account_id, a);
    mark->bytes[a] = '\0';
    memcpy(mark->bytes + a + 1, key->run_time, r);
    mark->bytes[a + 1 + r] = '\0';
    mark->key = (record_key){ mark->bytes, a, mark->bytes + a + 1, r };
    pthread_mutex_lock(&m->lock);
    while (m->pending >= m->s.capacity) pthread_cond_wait(&m->not_full, &m->lock);
    *m->incoming_tail = mark;
    m->incoming_tail = &mark->next;
    m->pending++;
    int wake = m->sleeping;
    m->sleeping = 0;
    pthread_mutex_unlock(&m->lock);
    if (wake) marker_wake(m);
    return 0;
}

void marker_close(marker *m)
{
    pthread_mutex_lock(&m->lock);
    int wake = !m->closing;
    m->closing = 1;
    pthread_mutex_unlock(&m->lock);
    if (wake) marker_wake(m);
}

int marker_drained(marker *m)
{
    return atomic_load(&m->drained);
}

void marker_consumed(const marker *m, double *wcu, double *rcu)
{
    ddb_client_consumed(m->client, wcu, rcu);
}

static void marker_free_list(marker_mark *mark)
{
    while (mark) {
        marker_mark *next = mark->next;
        free(mark);
        mark = next;
    }
}

/* Frees m; the thread has ended (or never started), so no transfer is in the multi. */
static void marker_free(marker *m)
{
    if (m->multi) curl_multi_cleanup(m->multi);
    if (m->epoll_fd >= 0) close(m->epoll_fd);
    if (m->wake_fd >= 0) close(m->wake_fd);
    for (int i = 0; m->slots && i < m->s.concurrency; i++) {
        http_conn_free(m->slots[i].http);
        free(m->slots[i].heap_body);
    }
    free(m->slots);
    free(m->free_slots);
    free(m->fds);
    ddb_client_free(m->client);
    marker_free_list(m->incoming);
    marker_free_list(m->ready);
    marker_free_list(m->backoff);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->not_full);
    free(m);
}

/* The multi handle and one slot (easy handle, kept-alive connection) per concurrent mark. */
static int marker_make_slots(marker *m, const ddb_config *cfg)
{
    int n = m->s.concurrency;
    m->multi = curl_multi_init();
    m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    m->slots = calloc((size_t)n, sizeof *m->slots);
    m->free_slots = calloc((size_t)n, sizeof *m->free_slots);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = m->wake_fd;
    if (!m->multi || !m->slots || !m->free_slots || m->epoll_fd < 0 || m->wake_fd < 0 ||
        epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, m->wake_fd, &ev) != 0)
        return -1;
    if (curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, (long)n) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, marker_on_socket) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, marker_on_timer) != CURLM_OK ||
        curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m) != CURLM_OK)
        return -1;
    for (int i = 0; i < n; i++) {
        m->slots[i].http = http_conn_new(cfg->ca_bundle, cfg->connect_timeout_ms, cfg->request_timeout_ms);
        if (!m->slots[i].http) return -1;
        CURL *h = http_handle(m->slots[i].http);
        if (curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, marker_on_close) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, m) != CURLE_OK)
            return -1;
        m->free_slots[m->free_count++] = n - 1 - i;
    }
    return 0;
}

marker *marker_start(const marker_settings *s, const ddb_config *cfg, ddb_error *err)
{
    marker *m = calloc(1, sizeof *m);
    if (!m) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the marker");
        return NULL;
    }
    m->s = *s;
    if (m->s.concurrency < 1) m->s.concurrency = 1;
    if (m->s.capacity < m->s.concurrency) m->s.capacity = m->s.concurrency;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->not_full, NULL);
    m->incoming_tail = &m->incoming;
    m->ready_tail = &m->ready;
    m->rng = retry_seed(m);
    m->epoll_fd = m->wake_fd = -1;
    m->curl_due_ms = -1;
    m->throttle = cfg->throttle;
    m->cap = cfg->cap;
    if (!(m->client = ddb_client_new(cfg, err))) goto fail;
    if (marker_make_slots(m, cfg) != 0) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the marker");
        goto fail;
    }
    if (pthread_create(&m->thread, NULL, marker_main, m) != 0) {
        ddb_error_set(err, "ThreadError", 0, "cannot start the marker thread");
        goto fail;
    }
    m->started = 1;
    return m;
fail:
    marker_free(m);
    return NULL;
}

void marker_finish(marker *m)
{
    if (!m) return;
    marker_close(m);
    if (m->started) pthread_join(m->thread, NULL);
    marker_free(m);
}
