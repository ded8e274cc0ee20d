/* toolnet: see toolnet.h. */
#include "toolnet.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One upstream response being read (tn_read_response). */
typedef struct tn_response {
    int stop_fd, fd;
    tn_buf *up, *head, *body;
} tn_response;

/* --- buffers --- */

int tn_buf_reserve(tn_buf *b, size_t need)
{
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < need) cap *= 2;
    char *bigger = realloc(b->data, cap);
    if (!bigger) return -1;
    b->data = bigger;
    b->cap = cap;
    return 0;
}

int tn_buf_append(tn_buf *b, const void *data, size_t len)
{
    if (tn_buf_reserve(b, b->len + len) != 0) return -1;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int tn_buf_printf(tn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || tn_buf_reserve(b, b->len + (size_t)n + 1) != 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void tn_buf_consume(tn_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* --- I/O that a stop interrupts --- */

int tn_wait(int stop_fd, int fd, short events, int timeout_ms)
{
    struct pollfd p[2] = { { fd, events, 0 }, { stop_fd, POLLIN, 0 } };
    int n = poll(p, 2, timeout_ms);
    if (n < 0 || p[1].revents) return -1;
    return n > 0;
}

long tn_read(int stop_fd, int fd, tn_buf *b, int timeout_ms)
{
    if (tn_wait(stop_fd, fd, POLLIN, timeout_ms) != 1 || tn_buf_reserve(b, b->len + 16384) != 0) return -1;
    ssize_t n = recv(fd, b->data + b->len, b->cap - b->len, 0);
    if (n < 0) return -1;
    b->len += (size_t)n;
    return (long)n;
}

int tn_write(int stop_fd, int fd, const char *data, size_t len)
{
    while (len > 0) {
        if (tn_wait(stop_fd, fd, POLLOUT, TN_UPSTREAM_TIMEOUT_MS) != 1) return -1;
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int tn_sleep(int stop_fd, long ms)
{
    struct pollfd p = { stop_fd, POLLIN, 0 };
    return poll(&p, 1, (int)ms) == 0 ? 0 : -1;
}

/* --- HTTP parsing --- */

size_t tn_head_length(const tn_buf *b)
{
    for (size_t i = 3; i < b->len; i++)
        if (b->data[i] == '\n' && b->data[i - 1] == '\r' && b->data[i - 2] == '\n' && b->data[i - 3] == '\r')
            return i + 1;
    return 0;
}

int tn_header(const char *head, size_t head_len, const char *name, const char **value, size_t *len)
{
    size_t nlen = strlen(name);
    const char *end = head + head_len, *p = memchr(head, '\n', head_len);
    while (p && p + 1 < end) {
        const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t')) v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) e--;
            *value = v;
            *len = (size_t)(e - v);
            return 1;
        }
        p = eol;
    }
    return 0;
}

int tn_header_is(const char *head, size_t head_len, const char *name, const char *word)
{
    const char *v;
    size_t len;
    return tn_header(head, head_len, name, &v, &len) && len == strlen(word) && strncasecmp(v, word, len) == 0;
}

long tn_content_length(const char *head, size_t head_len, int *present)
{
    const char *v;
    size_t len;
    *present = tn_header(head, head_len, "Content-Length", &v, &len);
    if (!*present) return 0;
    if (len == 0 || len > 12) return -1;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n <= TN_MAX_BODY ? n : -1;
}

int tn_status(const char *head, size_t len)
{
    if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ') return -1;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9') return -1;
        code = code * 10 + (head[i] - '0');
    }
    return code;
}

long tn_read_request(int stop_fd, int fd, tn_buf *in)
{
    size_t h;
    while ((h = tn_head_length(in)) == 0)
        if (in->len > TN_MAX_HEAD || tn_read(stop_fd, fd, in, -1) <= 0) return 0;
    const char *te;
    size_t te_len;
    int present;
    long body = tn_content_length(in->data, h, &present);
    if (body < 0 || tn_header(in->data, h, "Transfer-Encoding", &te, &te_len)) return 0;
    while (in->len < h + (size_t)body)
        if (tn_read(stop_fd, fd, in, -1) <= 0) return 0;
    return (long)(h + (size_t)body);
}

/* --- the upstream side --- */

static int tn_read_more(tn_response *r)
{
    return tn_read(r->stop_fd, r->fd, r->up, TN_UPSTREAM_TIMEOUT_MS) > 0 ? 0 : -1;
}

/* The offset just past the next CRLF at or after pos in r->up (reading more as needed), 0 on failure. */
static size_t tn_up_line(tn_response *r, size_t pos)
{
    for (;;) {
        for (size_t i = pos; i + 1 < r->up->len; i++)
            if (r->up->data[i] == '\r' && r->up->data[i + 1] == '\n') return i + 2;
        if (r->up->len - pos > TN_MAX_HEAD || tn_read_more(r) != 0) return 0;
    }
}

static int tn_is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Decodes the chunked body that starts at pos in r->up into r->body. */
static int tn_read_chunked(tn_response *r, size_t pos)
{
    for (;;) {
        size_t eol = tn_up_line(r, pos);
        if (!eol || !tn_is_hex(r->up->data[pos])) return -1;
        char *end;
        unsigned long size = strtoul(r->up->data + pos, &end, 16);   /* stops at the CR or a ';' */
        if (size > (unsigned long)TN_MAX_BODY - r->body->len) return -1;
        pos = eol;
        if (size == 0) {
            while ((eol = tn_up_line(r, pos)) != 0 && eol - pos > 2) pos = eol;   /* trailers */
            return eol ? 0 : -1;
        }
        while (r->up->len < pos + size + 2)
            if (tn_read_more(r) != 0) return -1;
        if (tn_buf_append(r->body, r->up->data + pos, size) != 0) return -1;
        pos += size + 2;
    }
}

/* Headers that describe the upstream framing, which the tools replace by their own Content-Length. */
static int tn_is_framing(const char *line, size_t len)
{
    static const char *const names[] = { "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (len > n && line[n] == ':' && strncasecmp(line, names[i], n) == 0) return 1;
    }
    return 0;
}

/* Copies the status line and the non-framing headers of the head in r->up to r->head. */
static int tn_keep_headers(tn_response *r, size_t head_len)
{
    const char *p = r->up->data, *end = r->up->data + head_len - 2;   /* without the blank line */
    r->head->len = 0;
    for (int first = 1; p < end; first = 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(eol - p) + 1;
        if ((first || !tn_is_framing(p, len)) && tn_buf_append(r->head, p, len) != 0) return -1;
        p += len;
    }
    return 0;
}

/* Reads the body after a head of h bytes, without framing (upstream closes after it). */
static int tn_read_to_eof(tn_response *r, size_t h, long *length)
{
    long n;
    while ((n = tn_read(r->stop_fd, r->fd, r->up, TN_UPSTREAM_TIMEOUT_MS)) > 0) {}
    if (n < 0) return -1;
    *length = (long)(r->up->len - h);
    return 0;
}

int tn_read_response(int stop_fd, int fd, tn_buf *up, tn_buf *head, tn_buf *body, int *close_after,
                     int *chunked)
{
    tn_response r = { stop_fd, fd, up, head, body };
    size_t h;
    int status;
    up->len = body->len = 0;
    for (;;) {
        while ((h = tn_head_length(up)) == 0)
            if (up->len > TN_MAX_HEAD || tn_read_more(&r) != 0) return -1;
        if ((status = tn_status(up->data, h)) < 100) return -1;
        if (status >= 200) break;
        tn_buf_consume(up, h);   /* 100 Continue and the like */
    }
    int present;
    *chunked = tn_header_is(up->data, h, "Transfer-Encoding", "chunked");
    long length = tn_content_length(up->data, h, &present);
    *close_after = tn_header_is(up->data, h, "Connection", "close");
    if (length < 0 || tn_keep_headers(&r, h) != 0) return -1;
    if (*chunked) return tn_read_chunked(&r, h);
    if (present || status == 204 || status == 304) {
        while (up->len < h + (size_t)length)
            if (tn_read_more(&r) != 0) return -1;
    } else {
        if (tn_read_to_eof(&r, h, &length) != 0) return -1;
        *close_after = 1;
    }
    return tn_buf_append(body, up->data + h, (size_t)length);
}

int tn_parse_long(const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) return -1;
    *out = n;
    return 0;
}

/* --- sockets --- */

int tn_connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void tn_conn_init(tn_conn *c, int client_fd)
{
    memset(c, 0, sizeof *c);
    c->client_fd = client_fd;
    c->upstream_fd = -1;
}

void tn_conn_close_upstream(tn_conn *c)
{
    if (c->upstream_fd >= 0) close(c->upstream_fd);
    c->upstream_fd = -1;
}

int tn_conn_upstream(tn_conn *c, int port)
{
    if (c->upstream_fd >= 0) {
        struct pollfd p = { c->upstream_fd, POLLIN, 0 };
        if (poll(&p, 1, 0) != 0) tn_conn_close_upstream(c);   /* EOF or stray bytes */
    }
    if (c->upstream_fd < 0) c->upstream_fd = tn_connect_loopback(port);
    return c->upstream_fd >= 0 ? 0 : -1;
}

void tn_conn_release(tn_conn *c)
{
    if (c->client_fd >= 0) close(c->client_fd);
    c->client_fd = -1;
    tn_conn_close_upstream(c);
    free(c->in.data);
    free(c->up.data);
    free(c->head.data);
    free(c->body.data);
}

int tn_listen_loopback(int *fd, const char *who)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(*fd, 128) != 0 ||
        getsockname(*fd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "%s: listening on 127.0.0.1: %s\n", who, strerror(errno));
        return -1;
    }
    return ntohs(a.sin_port);
}

void tn_wait_for_stop(const sigset_t *signals, long seconds)
{
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += seconds;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left_ns = (long long)(end.tv_sec - now.tv_sec) * 1000000000LL + (end.tv_nsec - now.tv_nsec);
        if (left_ns <= 0) return;
        struct timespec left = { (time_t)(left_ns / 1000000000LL), (long)(left_ns % 1000000000LL) };
        if (sigtimedwait(signals, NULL, &left) > 0) return;
    }
}

void tn_accept_loop(int listen_fd, int stop_fd, void (*start)(void *server, int fd), void *server)
{
    struct pollfd p[2] = { { listen_fd, POLLIN, 0 }, { stop_fd, POLLIN, 0 } };
    while (poll(p, 2, -1) >= 0 && !p[1].revents) {
        if (!p[0].revents) continue;
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            poll(&p[1], 1, 10);   /* out of descriptors: do not spin */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        start(server, fd);
    }
}

/* --- connection threads --- */

int tn_thread_start(pthread_mutex_t *lock, int *active, void *(*main)(void *), void *arg)
{
    pthread_mutex_lock(lock);
    (*active)++;
    pthread_mutex_unlock(lock);
    pthread_attr_t attr;
    pthread_t thread;
    int started = pthread_attr_init(&attr) == 0;
    if (started) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&thread, &attr, main, arg) == 0;
        pthread_attr_destroy(&attr);
    }
    return started ? 0 : -1;
}

void tn_thread_done(pthread_mutex_t *lock, pthread_cond_t *idle, int *active)
{
    pthread_mutex_lock(lock);
    (*active)--;
    pthread_cond_signal(idle);
    pthread_mutex_unlock(lock);
}

int tn_drain(pthread_mutex_t *lock, pthread_cond_t *idle, const int *active, const char *who)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += TN_DRAIN_S;
    pthread_mutex_lock(lock);
    while (*active > 0 && pthread_cond_timedwait(idle, lock, &deadline) == 0) {}
    int left = *active;
    pthread_mutex_unlock(lock);
    if (left > 0) fprintf(stderr, "%s: %d connections still open at exit\n", who, left);
    return left == 0;
}
