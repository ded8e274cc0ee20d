/* toolnet: the HTTP/1.1 and socket plumbing the test stand-ins share
 * (faultproxy, its latency mode, credserver). Every wait also watches a
 * "stop fd", the read end of the tool's stop pipe: closing its write end
 * makes every blocked call return -1. Only ever talks to 127.0.0.1. */
#ifndef DDBRUN_TOOLNET_H
#define DDBRUN_TOOLNET_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#define TN_MAX_HEAD (64 * 1024)
#define TN_MAX_BODY (64L * 1024 * 1024)
#define TN_UPSTREAM_TIMEOUT_MS 30000
#define TN_DRAIN_S 3   /* how long a stop waits for connection threads */

/* A growable byte buffer; { NULL, 0, 0 } is empty. The owner frees data. */
typedef struct tn_buf {
    char *data;
    size_t len, cap;
} tn_buf;

/* 0, or -1 when out of memory (b unchanged). */
int tn_buf_reserve(tn_buf *b, size_t need);
int tn_buf_append(tn_buf *b, const void *data, size_t len);
int tn_buf_printf(tn_buf *b, const char *fmt, ...);
/* Drops the first n (<= len) bytes. */
void tn_buf_consume(tn_buf *b, size_t n);

/* 1 when fd is ready for events, 0 on timeout, -1 when stopping or poll fails. */
int tn_wait(int stop_fd, int fd, short events, int timeout_ms);
/* Appends what fd has to b: >0 bytes read, 0 at EOF, -1 on error, stop or timeout. */
long tn_read(int stop_fd, int fd, tn_buf *b, int timeout_ms);
/* Sends all of data: 0, or -1 on error, stop or TN_UPSTREAM_TIMEOUT_MS without progress. */
int tn_write(int stop_fd, int fd, const char *data, size_t len);
/* Sleeps ms: 0, or -1 when stopping. */
int tn_sleep(int stop_fd, long ms);

/* The length of the head (through the blank line) at the start of b, 0 while incomplete. */
size_t tn_head_length(const tn_buf *b);
/* Finds header `name` after the first line of head; *value and *len get its
 * trimmed value (pointing into head). 1 when found, else 0. */
int tn_header(const char *head, size_t head_len, const char *name, const char **value, size_t *len);
/* 1 when header `name` is `word` (case-insensitive). */
int tn_header_is(const char *head, size_t head_len, const char *name, const char *word);
/* The Content-Length of head (0 and *present = 0 when absent), or -1 when malformed or too large. */
long tn_content_length(const char *head, size_t head_len, int *present);
/* The status code of a response head ("HTTP/1.1 200 OK"), or -1. */
int tn_status(const char *head, size_t len);

/* Reads one whole request (head and Content-Length body) from fd into the
 * start of in. Returns its length, or 0 when the client closed, sent something
 * we do not handle (chunked requests: curl always sends a length) or we stop. */
long tn_read_request(int stop_fd, int fd, tn_buf *in);
/* Reads one response from upstream fd: up gets the raw bytes, head the status
 * line and headers without the framing ones (Content-Length, Transfer-Encoding,
 * Connection, Keep-Alive) and without the blank line, body the body de-chunked.
 * Returns 0, or -1 when upstream failed. *close_after says upstream is closing
 * the connection; *chunked that the body was chunked (set even on failure). */
int tn_read_response(int stop_fd, int fd, tn_buf *up, tn_buf *head, tn_buf *body, int *close_after,
                     int *chunked);

/* A client connection of a stand-in that forwards to an upstream: its
 * sockets (-1 when closed) and buffers. */
typedef struct tn_conn {
    int client_fd, upstream_fd;
    tn_buf in;      /* from the client, not yet handled */
    tn_buf up;      /* from upstream: the response being read */
    tn_buf head;    /* the response head to send, without the framing headers */
    tn_buf body;    /* the upstream response body, de-chunked */
} tn_conn;

/* An empty connection owning client_fd, with no upstream yet. */
void tn_conn_init(tn_conn *c, int client_fd);
void tn_conn_close_upstream(tn_conn *c);
/* Gets an upstream connection ready to send on: a kept-alive one that upstream
 * is closing (or that has stray bytes) is replaced before sending, never after,
 * so a stand-in never sends a request twice. 0, or -1 when it cannot connect. */
int tn_conn_upstream(tn_conn *c, int port);
/* Closes both sockets and frees the buffers (c itself is the caller's). */
void tn_conn_release(tn_conn *c);

/* A whole decimal number from min to max into *out: 0, or -1 (out unchanged). */
int tn_parse_long(const char *v, long min, long max, long *out);

/* A TCP_NODELAY connection to 127.0.0.1:port, or -1. The caller closes it. */
int tn_connect_loopback(int port);
/* Listens on 127.0.0.1 on a free port into *fd (-1 or an fd the caller
 * closes, even on failure); returns the port, or -1 after a "WHO: ..." message. */
int tn_listen_loopback(int *fd, const char *who);
/* Hands each connection accepted on listen_fd (TCP_NODELAY) to start(server, fd),
 * which owns fd from then on, until stop_fd wakes. */
void tn_accept_loop(int listen_fd, int stop_fd, void (*start)(void *server, int fd), void *server);

/* A tool counts its connection threads in *active, under lock, so that a stop
 * can wait for them. Counts one more thread and starts main(arg) detached: 0, or -1 when it did
 * not start (still counted: the caller ends it with tn_thread_done). */
int tn_thread_start(pthread_mutex_t *lock, int *active, void *(*main)(void *), void *arg);
/* Counts a thread out and wakes a waiter on idle. */
void tn_thread_done(pthread_mutex_t *lock, pthread_cond_t *idle, int *active);
/* Waits up to TN_DRAIN_S for the threads, which the stop pipe has woken: 1 when
 * all have finished, else 0 after a "WHO: N connections still open at exit" line. */
int tn_drain(pthread_mutex_t *lock, pthread_cond_t *idle, const int *active, const char *who);

/* Returns at one of `signals` (blocked in every thread, so taken here) or after `seconds`. */
void tn_wait_for_stop(const sigset_t *signals, long seconds);

#endif
