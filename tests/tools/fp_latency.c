/* faultproxy latency: a TCP relay that delays every byte by a constant time
 * in each direction, the way a network round trip does (2.5 ms each way is a
 * 5 ms RTT). It does not look at HTTP at all.
 *
 *   faultproxy latency --upstream PORT --one-way-ms MS [--stats FILE] [--seconds N]
 *
 * Listens on 127.0.0.1 (a free port), prints "PORT <port> PID <pid>", and for
 * each accepted connection opens one to 127.0.0.1:PORT. Two threads per
 * connection, one per direction, each read what arrives, stamp it with
 * arrival + MS and write it out when that time comes: several requests in
 * flight on one connection are each delayed by MS, not queued behind each
 * other. Ends at SIGTERM/SIGINT or after --seconds (600) and writes
 * "connections N", "bytes_up N" and "bytes_down N" to the stats file. */
#define _GNU_SOURCE   /* ppoll: sub-millisecond waits */
#include "fp_latency.h"
#include "toolnet.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FPL_CHUNK 65536

typedef struct fpl_server {
    int upstream_port;
    long long delay_ns;
    long seconds;
    const char *stats_path;
    int listen_fd;
    int stop_pipe[2];             /* closing the write end stops every thread */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int active;                   /* pump threads running (under lock) */
    atomic_long connections, bytes_up, bytes_down;
} fpl_server;

typedef struct fpl_chunk {
    struct fpl_chunk *next;
    long long due_ns;             /* CLOCK_MONOTONIC time to send it */
    size_t len;
    char data[];
} fpl_chunk;

typedef struct fpl_pump {
    fpl_server *s;
    int from, to;
    atomic_long *bytes;
    atomic_int *refs;             /* shared by the two pumps: the last closes both fds */
} fpl_pump;

static long long fpl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Sends all of c; -1 on error or stop. */
static int fpl_send(fpl_pump *p, const fpl_chunk *c)
{
    size_t off = 0;
    while (off < c->len) {
        ssize_t n = send(p->to, c->data + off, c->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        off += (size_t)n;
    }
    atomic_fetch_add(p->bytes, (long)c->len);
    return 0;
}

/* Reads what `from` has into a new chunk due after the delay; 0 at EOF, -1 on error. */
static int fpl_receive(fpl_pump *p, fpl_chunk ***tail)
{
    fpl_chunk *c = malloc(sizeof *c + FPL_CHUNK);
    if (!c) return -1;
    ssize_t n = recv(p->from, c->data, FPL_CHUNK, 0);
    if (n <= 0) {
        free(c);
        return n == 0 ? 0 : -1;
    }
    c->next = NULL;
    c->len = (size_t)n;
    c->due_ns = fpl_now_ns() + p->s->delay_ns;
    **tail = c;
    *tail = &c->next;
    return 1;
}

/* Waits for input or the head chunk's time; returns poll's revents for `from`, -1 to stop. */
static int fpl_wait(fpl_pump *p, const fpl_chunk *head, int reading)
{
    struct pollfd fds[2] = { { p->s->stop_pipe[0], POLLIN, 0 }, { p->from, POLLIN, 0 } };
    struct timespec ts, *timeout = NULL;
    if (head) {
        long long left = head->due_ns - fpl_now_ns();
        if (left < 0) left = 0;
        ts.tv_sec = (time_t)(left / 1000000000LL);
        ts.tv_nsec = (long)(left % 1000000000LL);
        timeout = &ts;
    }
    int n = ppoll(fds, reading ? 2 : 1, timeout, NULL);
    if ((n < 0 && errno != EINTR) || (n > 0 && fds[0].revents)) return -1;
    return n > 0 && reading ? fds[1].revents : 0;
}

static void fpl_pump_end(fpl_pump *p, fpl_chunk *head)
{
    while (head) {
        fpl_chunk *next = head->next;
        free(head);
        head = next;
    }
    if (atomic_fetch_sub(p->refs, 1) == 1) {
        close(p->from);
        close(p->to);
        free(p->refs);
    }
    fpl_server *s = p->s;
    free(p);
    tn_thread_done(&s->lock, &s->idle, &s->active);
}

static void *fpl_pump_main(void *arg)
{
    fpl_pump *p = arg;
    fpl_chunk *head = NULL, **tail = &head;
    int reading = 1, failed = 0;
    while (!failed && (reading || head)) {
        int ev = fpl_wait(p, head, reading);
        if (ev < 0) break;
        if (ev) {
            int r = fpl_receive(p, &tail);
            failed = r < 0;
            reading = r > 0;
        }
        while (!failed && head && head->due_ns <= fpl_now_ns()) {
            fpl_chunk *c = head;
            failed = fpl_send(p, c) != 0;
            head = c->next;
            if (!head) tail = &head;
            free(c);
        }
    }
    /* pass the end on: EOF as EOF, a failure as a reset of both sides */
    if (failed) shutdown(p->from, SHUT_RDWR);
    shutdown(p->to, failed ? SHUT_RDWR : SHUT_WR);
    fpl_pump_end(p, head);
    return NULL;
}

static int fpl_start_pump(fpl_server *s, int from, int to, atomic_long *bytes, atomic_int *refs)
{
    fpl_pump *p = malloc(sizeof *p);
    if (!p) return -1;
    *p = (fpl_pump){ s, from, to, bytes, refs };
    if (tn_thread_start(&s->lock, &s->active, fpl_pump_main, p) == 0) return 0;
    tn_thread_done(&s->lock, &s->idle, &s->active);
    free(p);
    return -1;
}

static void fpl_start_conn(void *server, int client)
{
    fpl_server *s = server;
    int upstream = tn_connect_loopback(s->upstream_port);
    atomic_int *refs = malloc(sizeof *refs);
    if (upstream < 0 || !refs) goto fail;
    atomic_init(refs, 2);
    atomic_fetch_add(&s->connections, 1);
    if (fpl_start_pump(s, client, upstream, &s->bytes_up, refs) != 0) goto fail;
    if (fpl_start_pump(s, upstream, client, &s->bytes_down, refs) != 0) {
        /* the first pump owns both fds now: make it see the end */
        shutdown(client, SHUT_RDWR);
        shutdown(upstream, SHUT_RDWR);
        atomic_fetch_sub(refs, 1);
    }
    return;
fail:
    free(refs);
    if (upstream >= 0) close(upstream);
    close(client);
}

static void *fpl_accept_main(void *arg)
{
    fpl_server *s = arg;
    tn_accept_loop(s->listen_fd, s->stop_pipe[0], fpl_start_conn, s);
    return NULL;
}

static int fpl_usage(const char *what, const char *arg)
{
    fprintf(stderr, "faultproxy latency: %s%s%s\n"
            "usage: faultproxy latency --upstream PORT --one-way-ms MS [--stats FILE] [--seconds N]\n",
            what, arg ? " " : "", arg ? arg : "");
    return -1;
}

static int fpl_parse(fpl_server *s, int argc, char **argv)
{
    s->seconds = 600;
    s->delay_ns = -1;
    for (int i = 2; i < argc; i += 2) {
        const char *name = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v) return fpl_usage("missing a value after", name);
        double d = strtod(v, &end);
        int number = end != v && *end == '\0' && isfinite(d);
        if (strcmp(name, "--upstream") == 0 && number && d >= 1 && d <= 65535 && d == (int)d)
            s->upstream_port = (int)d;
        else if (strcmp(name, "--one-way-ms") == 0 && number && d >= 0 && d <= 60000)
            s->delay_ns = (long long)(d * 1e6);
        else if (strcmp(name, "--seconds") == 0 && number && d >= 1 && d <= 86400 && d == (long)d)
            s->seconds = (long)d;
        else if (strcmp(name, "--stats") == 0)
            s->stats_path = v;
        else
            return fpl_usage("bad option or value:", name);
    }
    if (!s->upstream_port) return fpl_usage("latency needs --upstream PORT", NULL);
    if (s->delay_ns < 0) return fpl_usage("latency needs --one-way-ms MS (0 to 60000)", NULL);
    return 0;
}

static int fpl_write_stats(fpl_server *s)
{
    if (!s->stats_path) return 0;
    FILE *f = fopen(s->stats_path, "w");
    if (!f) {
        perror("faultproxy latency: writing the stats");
        return 1;
    }
    fprintf(f, "connections %ld\nbytes_up %ld\nbytes_down %ld\n", atomic_load(&s->connections),
            atomic_load(&s->bytes_up), atomic_load(&s->bytes_down));
    return fclose(f) == 0 ? 0 : 1;
}

int fp_latency_main(int argc, char **argv)
{
    fpl_server s;
    memset(&s, 0, sizeof s);
    if (fpl_parse(&s, argc, argv) != 0) return 2;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);   /* before any thread: they inherit it */
    int port = tn_listen_loopback(&s.listen_fd, "faultproxy latency");
    if (port < 0 || pipe(s.stop_pipe) != 0) return 1;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.idle, NULL);
    pthread_t acceptor;
    if (pthread_create(&acceptor, NULL, fpl_accept_main, &s) != 0) {
        fprintf(stderr, "faultproxy latency: cannot start the accept thread\n");
        return 1;
    }
    printf("PORT %d PID %ld\n", port, (long)getpid());
    fflush(stdout);
    tn_wait_for_stop(&signals, s.seconds);
    close(s.stop_pipe[1]);   /* the acceptor and the pumps notice at once */
    pthread_join(acceptor, NULL);
    int drained = tn_drain(&s.lock, &s.idle, &s.active, "faultproxy latency");
    int rc = fpl_write_stats(&s);
    close(s.listen_fd);
    close(s.stop_pipe[0]);
    if (drained) {   /* a straggler past the drain would still use them */
        pthread_cond_destroy(&s.idle);
        pthread_mutex_destroy(&s.lock);
    }
    return rc;
}
