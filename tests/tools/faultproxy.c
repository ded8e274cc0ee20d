/* faultproxy: a small HTTP/1.1 server for the fault-injection specs.
 *
 *   faultproxy silent [--stats FILE] [--seconds N]
 *   faultproxy proxy --upstream PORT [--rate R] [--faults LIST] [--seed S]
 *                    [--delay-ms MS] [--max-faults N] [--after N] [--only OP] [--stats FILE] [--seconds N]
 *                    [--throttle-rate RPS]
 *   faultproxy meter --upstream PORT [--stats FILE] [--seconds N]
 *
 * Listens on 127.0.0.1 (a free port), prints "PORT <port> PID <pid>", serves
 * until SIGTERM/SIGINT or --seconds (600), then writes one "<name> <count>"
 * line per counter to the stats file and exits 0. `silent` reads requests and
 * never answers. `proxy` forwards each request to 127.0.0.1:PORT over one
 * kept-alive upstream connection per client connection, and with probability
 * R answers it with a fault from LIST instead (see FP_KIND_NAMES); at most N
 * faults in all with --max-faults, none in the first N requests with --after,
 * and only to operation OP ("Query": X-Amz-Target DynamoDB_20120810.Query)
 * with --only (the stats count those requests as "only_requests").
 * Throttle mode (--throttle-rate RPS): as DynamoDB does, a token bucket of RPS
 * requests per second (bursts of RPS/10) over all connections; a request
 * beyond it is answered ThrottlingException naming the table (and index) of
 * its TableName/IndexName in "ThrottlingReasons", counted as "throttled".
 * `meter` forwards every request unchanged and sums, per table, the capacity
 * units DynamoDB reports (the ConsumedCapacity of each response; a failed
 * conditional write counts 1 WCU, as DynamoDB bills it), so specs measure
 * cost independently of ddbrun's own stats; see "metering" below.
 * Only ever connects to 127.0.0.1. `faultproxy latency`: see fp_latency.c. */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>
#include "fp_latency.h"

enum {
    FP_THROTTLE, FP_THROTTLING, FP_500, FP_503HTML, FP_RESET_BEFORE, FP_RESET_AFTER,
    FP_DELAY, FP_TRUNCATE, FP_CRC, FP_BADJSON, FP_KINDS
};

static const char *const FP_KIND_NAMES[FP_KINDS] = {
    "throttle", "throttling", "500", "503html", "reset-before", "reset-after",
    "delay", "truncate", "crc", "badjson",
};

#define FP_JSON "application/x-amz-json-1.0"
#define FP_THROTTLE_BODY \
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"injected\"}"
#define FP_THROTTLING_BODY "{\"__type\":\"com.amazon.coral.availability#ThrottlingException\",\"message\":\"injected\"}"
#define FP_500_BODY "{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\",\"message\":\"injected\"}"
#define FP_503_BODY "<html><head><title>503 Service Unavailable</title></head>" \
                    "<body><h1>503 Service Unavailable</h1>injected</body></html>"
#define FP_BADJSON_BODY "{\"Items\": ["

#define FP_MAX_HEAD (64 * 1024)
#define FP_MAX_BODY (64L * 1024 * 1024)
#define FP_UPSTREAM_TIMEOUT_MS 30000
#define FP_DRAIN_S 3              /* how long a stop waits for connection threads */

typedef struct fp_options {
    int silent;
    int meter;
    int upstream_port;
    double rate;
    int kinds[FP_KINDS];          /* the enabled fault kinds */
    int kind_count;
    uint64_t seed;
    long delay_ms;
    long max_faults;              /* -1: no limit */
    long after;                   /* requests served before any fault */
    const char *stats_path;
    const char *only;             /* NULL: faults for every operation */
    long seconds;
    long throttle_rate;           /* requests/s beyond which to throttle; 0: off */
} fp_options;

/* --- throttle mode: a token bucket shared by every connection --- */

typedef struct fp_throttle {
    pthread_mutex_t lock;
    double tokens, capacity;
    struct timespec last;
    atomic_long throttled;
} fp_throttle;

typedef struct fp_server {
    fp_options o;
    int listen_fd;
    int stop_pipe[2];             /* closing the write end stops everyone polling the read end */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int active;                   /* connection threads still running (under lock) */
    uint64_t connections;         /* accepted so far (acceptor thread only) */
    atomic_long injected[FP_KINDS];
    atomic_long faults, requests, forwarded, upstream_errors, chunked, only_requests;
    fp_throttle throttle;
    struct fp_meter *meter;       /* meter mode: per-table sums */
} fp_server;

typedef struct fp_buf {
    char *data;
    size_t len, cap;
} fp_buf;

typedef struct fp_conn {
    fp_server *s;
    int client_fd, upstream_fd;
    uint64_t rng;
    fp_buf in;                    /* from the client, not yet handled */
    fp_buf up;                    /* from upstream: the response being read */
    fp_buf head;                  /* the response head to send, without Content-Length */
    fp_buf body;                  /* the upstream response body, de-chunked */
} fp_conn;

/* --- buffers --- */

static int fp_buf_reserve(fp_buf *b, size_t need)
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

static int fp_buf_append(fp_buf *b, const void *data, size_t len)
{
    if (fp_buf_reserve(b, b->len + len) != 0) return -1;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static int fp_buf_printf(fp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || fp_buf_reserve(b, b->len + (size_t)n + 1) != 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static void fp_buf_consume(fp_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* --- I/O that a stop interrupts --- */

/* 1 when fd is ready for events, 0 on timeout, -1 when stopping or poll fails. */
static int fp_wait(fp_conn *c, int fd, short events, int timeout_ms)
{
    struct pollfd p[2] = { { fd, events, 0 }, { c->s->stop_pipe[0], POLLIN, 0 } };
    int n = poll(p, 2, timeout_ms);
    if (n < 0 || p[1].revents) return -1;
    return n > 0;
}

/* Appends what fd has to b: >0 bytes read, 0 at EOF, -1 on error, stop or timeout. */
static long fp_read(fp_conn *c, int fd, fp_buf *b, int timeout_ms)
{
    if (fp_wait(c, fd, POLLIN, timeout_ms) != 1 || fp_buf_reserve(b, b->len + 16384) != 0) return -1;
    ssize_t n = recv(fd, b->data + b->len, b->cap - b->len, 0);
    if (n < 0) return -1;
    b->len += (size_t)n;
    return (long)n;
}

static int fp_write(fp_conn *c, int fd, const char *data, size_t len)
{
    while (len > 0) {
        if (fp_wait(c, fd, POLLOUT, FP_UPSTREAM_TIMEOUT_MS) != 1) return -1;
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fp_sleep(fp_conn *c, long ms)
{
    struct pollfd p = { c->s->stop_pipe[0], POLLIN, 0 };
    return poll(&p, 1, (int)ms) == 0 ? 0 : -1;
}

/* --- HTTP parsing --- */

/* The length of the head (through the blank line) at the start of b, 0 while incomplete. */
static size_t fp_head_length(const fp_buf *b)
{
    for (size_t i = 3; i < b->len; i++)
        if (b->data[i] == '\n' && b->data[i - 1] == '\r' && b->data[i - 2] == '\n' && b->data[i - 3] == '\r')
            return i + 1;
    return 0;
}

/* Finds header `name` after the first line of head; *value and *len get its trimmed value. */
static int fp_header(const char *head, size_t head_len, const char *name, const char **value, size_t *len)
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

static int fp_header_is(const char *head, size_t head_len, const char *name, const char *word)
{
    const char *v;
    size_t len;
    return fp_header(head, head_len, name, &v, &len) && len == strlen(word) && strncasecmp(v, word, len) == 0;
}

/* The Content-Length of head (0 and *present = 0 when absent), or -1 when malformed or too large. */
static long fp_content_length(const char *head, size_t head_len, int *present)
{
    const char *v;
    size_t len;
    *present = fp_header(head, head_len, "Content-Length", &v, &len);
    if (!*present) return 0;
    if (len == 0 || len > 12) return -1;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n <= FP_MAX_BODY ? n : -1;
}

/* The status code of a response head ("HTTP/1.1 200 OK"), or -1. */
static int fp_status(const char *head, size_t len)
{
    if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ') return -1;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9') return -1;
        code = code * 10 + (head[i] - '0');
    }
    return code;
}

/* Reads one whole request (head and Content-Length body) into the start of
 * c->in. Returns its length, or 0 when the client closed, sent something we
 * do not handle (chunked requests: curl always sends a length) or we stop. */
static long fp_read_request(fp_conn *c)
{
    size_t h;
    while ((h = fp_head_length(&c->in)) == 0)
        if (c->in.len > FP_MAX_HEAD || fp_read(c, c->client_fd, &c->in, -1) <= 0) return 0;
    const char *te;
    size_t te_len;
    int present;
    long body = fp_content_length(c->in.data, h, &present);
    if (body < 0 || fp_header(c->in.data, h, "Transfer-Encoding", &te, &te_len)) return 0;
    while (c->in.len < h + (size_t)body)
        if (fp_read(c, c->client_fd, &c->in, -1) <= 0) return 0;
    return (long)(h + (size_t)body);
}

/* --- the upstream side --- */

static int fp_read_more(fp_conn *c)
{
    return fp_read(c, c->upstream_fd, &c->up, FP_UPSTREAM_TIMEOUT_MS) > 0 ? 0 : -1;
}

/* The offset just past the next CRLF at or after pos in c->up (reading more as needed), 0 on failure. */
static size_t fp_up_line(fp_conn *c, size_t pos)
{
    for (;;) {
        for (size_t i = pos; i + 1 < c->up.len; i++)
            if (c->up.data[i] == '\r' && c->up.data[i + 1] == '\n') return i + 2;
        if (c->up.len - pos > FP_MAX_HEAD || fp_read_more(c) != 0) return 0;
    }
}

static int fp_is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Decodes the chunked body that starts at pos in c->up into c->body. */
static int fp_read_chunked(fp_conn *c, size_t pos)
{
    for (;;) {
        size_t eol = fp_up_line(c, pos);
        if (!eol || !fp_is_hex(c->up.data[pos])) return -1;
        char *end;
        unsigned long size = strtoul(c->up.data + pos, &end, 16);   /* stops at the CR or a ';' */
        if (size > (unsigned long)FP_MAX_BODY - c->body.len) return -1;
        pos = eol;
        if (size == 0) {
            while ((eol = fp_up_line(c, pos)) != 0 && eol - pos > 2) pos = eol;   /* trailers */
            return eol ? 0 : -1;
        }
        while (c->up.len < pos + size + 2)
            if (fp_read_more(c) != 0) return -1;
        if (fp_buf_append(&c->body, c->up.data + pos, size) != 0) return -1;
        pos += size + 2;
    }
}

/* Headers that describe the upstream framing, which we replace by our own Content-Length. */
static int fp_is_framing(const char *line, size_t len)
{
    static const char *const names[] = { "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (len > n && line[n] == ':' && strncasecmp(line, names[i], n) == 0) return 1;
    }
    return 0;
}

/* Copies the status line and the non-framing headers of the head in c->up to c->head. */
static int fp_keep_headers(fp_conn *c, size_t head_len)
{
    const char *p = c->up.data, *end = c->up.data + head_len - 2;   /* without the blank line */
    c->head.len = 0;
    for (int first = 1; p < end; first = 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(eol - p) + 1;
        if ((first || !fp_is_framing(p, len)) && fp_buf_append(&c->head, p, len) != 0) return -1;
        p += len;
    }
    return 0;
}

/* Reads one response from upstream into c->head and c->body. Returns 0, or
 * -1 when upstream failed. *close_after says upstream is closing the connection. */
static int fp_read_response(fp_conn *c, int *close_after)
{
    size_t h;
    int status;
    c->up.len = c->body.len = 0;
    for (;;) {
        while ((h = fp_head_length(&c->up)) == 0)
            if (c->up.len > FP_MAX_HEAD || fp_read_more(c) != 0) return -1;
        if ((status = fp_status(c->up.data, h)) < 100) return -1;
        if (status >= 200) break;
        fp_buf_consume(&c->up, h);   /* 100 Continue and the like */
    }
    const char *head = c->up.data;
    int present, chunked = fp_header_is(head, h, "Transfer-Encoding", "chunked");
    long length = fp_content_length(head, h, &present);
    *close_after = fp_header_is(head, h, "Connection", "close");
    if (length < 0 || fp_keep_headers(c, h) != 0) return -1;
    if (chunked) {
        atomic_fetch_add(&c->s->chunked, 1);
        return fp_read_chunked(c, h);
    }
    if (present || status == 204 || status == 304) {
        while (c->up.len < h + (size_t)length)
            if (fp_read_more(c) != 0) return -1;
    } else {
        long n;
        while ((n = fp_read(c, c->upstream_fd, &c->up, FP_UPSTREAM_TIMEOUT_MS)) > 0) {}
        if (n < 0) return -1;
        length = (long)(c->up.len - h);
        *close_after = 1;
    }
    return fp_buf_append(&c->body, c->up.data + h, (size_t)length);
}

static void fp_close_upstream(fp_conn *c)
{
    if (c->upstream_fd >= 0) close(c->upstream_fd);
    c->upstream_fd = -1;
}

static int fp_connect_upstream(fp_conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->s->o.upstream_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    c->upstream_fd = fd;
    return 0;
}

/* Sends the request (the first len bytes of c->in) upstream and reads the
 * answer into c->head and c->body. A kept-alive connection that upstream is
 * closing is replaced before sending, never after: the proxy itself must not
 * send a request twice. Returns 0, or -1 when upstream failed (counted unless our stop cut it short). */
static int fp_forward(fp_conn *c, size_t len)
{
    if (c->upstream_fd >= 0) {
        struct pollfd p = { c->upstream_fd, POLLIN, 0 };
        if (poll(&p, 1, 0) != 0) fp_close_upstream(c);   /* EOF or stray bytes */
    }
    int close_after = 0;
    int ok = (c->upstream_fd >= 0 || fp_connect_upstream(c) == 0) &&
             fp_write(c, c->upstream_fd, c->in.data, len) == 0 && fp_read_response(c, &close_after) == 0;
    if (!ok || close_after) fp_close_upstream(c);
    if (ok || fp_sleep(c, 0) == 0) atomic_fetch_add(ok ? &c->s->forwarded : &c->s->upstream_errors, 1);
    return ok ? 0 : -1;
}

/* --- answering the client --- */

/* Sends c->head with a Content-Length of `declared`, then the first send_len bytes of body. */
static int fp_send_response(fp_conn *c, const char *body, size_t declared, size_t send_len)
{
    if (fp_buf_printf(&c->head, "Content-Length: %zu\r\n\r\n", declared) != 0 ||
        fp_write(c, c->client_fd, c->head.data, c->head.len) != 0)
        return -1;
    return fp_write(c, c->client_fd, body, send_len);
}

static int fp_send_synthetic(fp_conn *c, int status, const char *reason, const char *type, const char *body,
                             int with_crc)
{
    size_t len = strlen(body);
    c->head.len = 0;
    int rc = fp_buf_printf(&c->head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nx-amzn-RequestId: faultproxy-%ld\r\n",
                           status, reason, type, atomic_load(&c->s->requests));
    if (rc == 0 && with_crc)
        rc = fp_buf_printf(&c->head, "x-amz-crc32: %lu\r\n", crc32(0L, (const Bytef *)body, (uInt)len));
    return rc == 0 ? fp_send_response(c, body, len, len) : -1;
}

/* Closes the client connection with a TCP RST instead of a FIN. */
static void fp_reset(fp_conn *c)
{
    struct linger l = { 1, 0 };
    setsockopt(c->client_fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(c->client_fd);
    c->client_fd = -1;
}

/* splitmix64: one step of the PRNG (also used to derive seeds). */
static uint64_t fp_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The fault for request number n (from 1, over all connections), or -1 for
 * none. It always draws twice, so a connection's sequence of draws depends
 * only on the seed. */
/* True when the request of len bytes at the start of c->in may get a fault:
 * there is no --only, or its X-Amz-Target names that operation. */
static int fp_eligible(fp_conn *c, size_t len)
{
    const char *only = c->s->o.only;
    if (!only) return 1;
    const char *v;
    size_t vlen;
    if (!fp_header(c->in.data, len, "X-Amz-Target", &v, &vlen)) return 0;
    const char *dot = memchr(v, '.', vlen);
    if (!dot) return 0;
    size_t op_len = vlen - (size_t)(dot + 1 - v);
    if (op_len != strlen(only) || strncmp(dot + 1, only, op_len) != 0) return 0;
    atomic_fetch_add(&c->s->only_requests, 1);
    return 1;
}

static int fp_pick_fault(fp_conn *c, long n, int eligible)
{
    const fp_options *o = &c->s->o;
    double r = (double)(fp_random(&c->rng) >> 11) / 9007199254740992.0;   /* [0, 1) */
    int kind = o->kinds[fp_random(&c->rng) % (uint64_t)o->kind_count];
    if (r >= o->rate || n <= o->after || !eligible) return -1;
    if (o->max_faults >= 0 && atomic_fetch_add(&c->s->faults, 1) >= o->max_faults) return -1;
    atomic_fetch_add(&c->s->injected[kind], 1);
    return kind;
}

/* Flips one bit of the body and keeps upstream's x-amz-crc32. DynamoDB Local
 * sends none on errors, where the flip would be undetectable (a different
 * error code): then the checksum of the intact body is added first. */
static int fp_corrupt(fp_conn *c)
{
    const char *v;
    size_t len;
    if (!fp_header(c->head.data, c->head.len, "x-amz-crc32", &v, &len) &&
        fp_buf_printf(&c->head, "x-amz-crc32: %lu\r\n", crc32(0L, (const Bytef *)c->body.data, (uInt)c->body.len)) != 0)
        return -1;
    if (c->body.len) c->body.data[c->body.len / 2] ^= 0x01;
    return 0;
}

static void fp_throttle_init(fp_throttle *t, long rate)
{
    pthread_mutex_init(&t->lock, NULL);
    t->capacity = rate / 10.0 > 1 ? rate / 10.0 : 1;
    t->tokens = t->capacity;
    clock_gettime(CLOCK_MONOTONIC, &t->last);
}

/* Takes a token; 0 when there was none (the request is throttled). */
static int fp_throttle_take(fp_throttle *t, long rate)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&t->lock);
    double elapsed = (double)(now.tv_sec - t->last.tv_sec) + (now.tv_nsec - t->last.tv_nsec) / 1e9;
    t->last = now;
    t->tokens += elapsed * (double)rate;
    if (t->tokens > t->capacity) t->tokens = t->capacity;
    int ok = t->tokens >= 1;
    if (ok) t->tokens -= 1;
    pthread_mutex_unlock(&t->lock);
    return ok;
}

/* Copies the string value of "field":"..." in the request body (no escapes), or "". */
static void fp_request_field(const fp_conn *c, size_t len, const char *field, char *out, size_t size)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", field);
    size_t head = fp_head_length(&c->in), plen = strlen(pattern);
    out[0] = '\0';
    for (size_t i = head; i + plen < len; i++) {
        if (memcmp(c->in.data + i, pattern, plen) != 0) continue;
        size_t n = 0;
        for (i += plen; i < len && c->in.data[i] != '"' && n + 1 < size; i++) out[n++] = c->in.data[i];
        out[n] = '\0';
        return;
    }
}

static int fp_send_throttled(fp_conn *c, size_t len)
{
    char table[256], index[256];
    fp_request_field(c, len, "TableName", table, sizeof table);
    fp_request_field(c, len, "IndexName", index, sizeof index);
    atomic_fetch_add(&c->s->throttle.throttled, 1);
    fp_buf body = { NULL, 0, 0 };
    int rc = fp_buf_printf(&body, "{\"__type\":\"com.amazon.coral.availability#ThrottlingException\","
                           "\"message\":\"Throughput exceeds the current capacity for one or more resources\","
                           "\"ThrottlingReasons\":[{\"reason\":\"%s\",\"resource\":"
                           "\"arn:aws:dynamodb:ddblocal:000000000000:table/%s%s%s\"}]}",
                           index[0] ? "IndexReadKeyRangeThroughputExceeded" : "TableKeyRangeThroughputExceeded",
                           table, index[0] ? "/index/" : "", index);
    if (rc == 0) rc = fp_send_synthetic(c, 400, "Bad Request", FP_JSON, body.data, 1);
    free(body.data);
    return rc;
}

/* Answers request number n, of len bytes at the start of c->in, perhaps with
 * a fault. Returns 0 to keep the connection, -1 to end it. */
static int fp_handle(fp_conn *c, size_t len, long n)
{
    if (c->s->o.throttle_rate > 0 && !fp_throttle_take(&c->s->throttle, c->s->o.throttle_rate))
        return fp_send_throttled(c, len);
    int kind = fp_pick_fault(c, n, fp_eligible(c, len));
    switch (kind) {
    case FP_THROTTLE: return fp_send_synthetic(c, 400, "Bad Request", FP_JSON, FP_THROTTLE_BODY, 1);
    case FP_THROTTLING: return fp_send_synthetic(c, 400, "Bad Request", FP_JSON, FP_THROTTLING_BODY, 1);
    case FP_500: return fp_send_synthetic(c, 500, "Internal Server Error", FP_JSON, FP_500_BODY, 1);
    case FP_503HTML: return fp_send_synthetic(c, 503, "Service Unavailable", "text/html", FP_503_BODY, 0);
    case FP_RESET_BEFORE: fp_reset(c); return -1;
    case FP_DELAY: if (fp_sleep(c, c->s->o.delay_ms) != 0) return -1; break;
    default: break;
    }
    if (fp_forward(c, len) != 0) return -1;
    switch (kind) {
    case FP_RESET_AFTER: fp_reset(c); return -1;
    case FP_TRUNCATE: fp_send_response(c, c->body.data, c->body.len, c->body.len / 2); return -1;
    case FP_CRC: if (fp_corrupt(c) != 0) return -1; break;
    case FP_BADJSON: return fp_send_synthetic(c, 200, "OK", FP_JSON, FP_BADJSON_BODY, 0);
    default: break;
    }
    return fp_send_response(c, c->body.data, c->body.len, c->body.len);
}

/* --- metering (meter mode) ---
 * Per table: requests, WCU and RCU summed from each response's
 * ConsumedCapacity (an object, or a list for batch operations), 1 WCU per
 * ConditionalCheckFailedException on a write, and "unmetered": successful
 * data-plane requests whose response carried no ConsumedCapacity (the client
 * did not ask with ReturnConsumedCapacity), so a spec can tell that nothing
 * escaped. Control-plane calls (DescribeTable: a processor reads the table's
 * layout) consume no capacity and are only counted as requests. */

#define FP_METER_TABLES 64

typedef struct fp_meter_row {
    char table[256];
    long requests, unmetered;
    double wcu, rcu;
} fp_meter_row;

typedef struct fp_meter {
    pthread_mutex_t lock;
    fp_meter_row rows[FP_METER_TABLES];
    int count;
} fp_meter;

/* The row of table (created on first use), under the lock; NULL when full. */
static fp_meter_row *fp_meter_row_of(fp_meter *m, const char *table)
{
    for (int i = 0; i < m->count; i++)
        if (strcmp(m->rows[i].table, table) == 0) return &m->rows[i];
    if (m->count == FP_METER_TABLES) return NULL;
    fp_meter_row *r = &m->rows[m->count++];
    snprintf(r->table, sizeof r->table, "%s", table);
    return r;
}

static int fp_meter_is_read(const char *op, size_t len)
{
    static const char *const reads[] = { "Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems" };
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++)
        if (strlen(reads[i]) == len && strncmp(op, reads[i], len) == 0) return 1;
    return 0;
}

static int fp_meter_is_data(const char *op, size_t len)
{
    static const char *const ops[] = { "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                                       "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
                                       "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction" };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strlen(ops[i]) == len && strncmp(op, ops[i], len) == 0) return 1;
    return 0;
}

static void fp_meter_add(fp_meter *m, const char *table, int is_read, double units, int request, int unmetered)
{
    pthread_mutex_lock(&m->lock);
    fp_meter_row *r = fp_meter_row_of(m, table && *table ? table : "-");
    if (r) {
        r->requests += request;
        r->unmetered += unmetered;
        if (is_read) r->rcu += units;
        else r->wcu += units;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Adds one response. request is the request's JSON (for its TableName). */
static void fp_meter_response(fp_meter *m, const json_t *request, int is_read, int is_data, int status,
                              const json_t *response)
{
    const char *table = json_string_value(json_object_get(request, "TableName"));
    json_t *cc = json_object_get(response, "ConsumedCapacity");
    const char *type = json_string_value(json_object_get(response, "__type"));
    if (status == 200 && json_is_object(cc)) {
        fp_meter_add(m, json_string_value(json_object_get(cc, "TableName")), is_read,
                     json_number_value(json_object_get(cc, "CapacityUnits")), 1, 0);
    } else if (status == 200 && json_is_array(cc)) {
        size_t i;
        json_t *e;
        json_array_foreach(cc, i, e)
            fp_meter_add(m, json_string_value(json_object_get(e, "TableName")), is_read,
                         json_number_value(json_object_get(e, "CapacityUnits")), i == 0, 0);
    } else if (status == 200) {
        fp_meter_add(m, table, is_read, 0, 1, is_data);
    } else if (type && strstr(type, "ConditionalCheckFailedException") && !is_read) {
        fp_meter_add(m, table, 0, 1, 1, 0);
    } else {
        fp_meter_add(m, table, is_read, 0, 1, 0);
    }
}

/* Forwards request c->in[0..len) and meters it. Returns 0 to keep the connection. */
static int fp_meter_handle(fp_conn *c, size_t len)
{
    size_t h = fp_head_length(&c->in);
    const char *target;
    size_t target_len;
    if (!fp_header(c->in.data, h, "X-Amz-Target", &target, &target_len)) target_len = 0;
    const char *dot = target_len ? memchr(target, '.', target_len) : NULL;
    size_t op_len = dot ? target_len - (size_t)(dot + 1 - target) : 0;
    int is_read = dot && fp_meter_is_read(dot + 1, op_len);
    int is_data = dot && fp_meter_is_data(dot + 1, op_len);
    json_t *request = json_loadb(c->in.data + h, len - h, 0, NULL);
    int rc = fp_forward(c, len);
    if (rc == 0) {
        json_t *response = json_loadb(c->body.data, c->body.len, 0, NULL);
        fp_meter_response(c->s->meter, request, is_read, is_data, fp_status(c->head.data, c->head.len), response);
        json_decref(response);
        rc = fp_send_response(c, c->body.data, c->body.len, c->body.len);
    }
    json_decref(request);
    return rc;
}

/* One line per table: "meter TABLE requests N wcu X rcu Y unmetered N". */
static void fp_meter_write(const fp_meter *m, FILE *f)
{
    for (int i = 0; m && i < m->count; i++)
        fprintf(f, "meter %s requests %ld wcu %.1f rcu %.1f unmetered %ld\n", m->rows[i].table, m->rows[i].requests,
                m->rows[i].wcu, m->rows[i].rcu, m->rows[i].unmetered);
}

/* --- connections --- */

static void fp_conn_free(fp_conn *c)
{
    fp_server *s = c->s;
    if (c->client_fd >= 0) close(c->client_fd);
    fp_close_upstream(c);
    free(c->in.data);
    free(c->up.data);
    free(c->head.data);
    free(c->body.data);
    free(c);
    pthread_mutex_lock(&s->lock);
    s->active--;
    pthread_cond_signal(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

static void *fp_conn_main(void *arg)
{
    fp_conn *c = arg;
    long len;
    while ((len = fp_read_request(c)) > 0) {
        long n = atomic_fetch_add(&c->s->requests, 1) + 1;
        if (c->s->o.meter && fp_meter_handle(c, (size_t)len) != 0) break;
        if (!c->s->o.silent && !c->s->o.meter && fp_handle(c, (size_t)len, n) != 0) break;
        fp_buf_consume(&c->in, (size_t)len);
    }
    fp_conn_free(c);
    return NULL;
}

static void fp_start_conn(fp_server *s, int fd)
{
    fp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->s = s;
    c->client_fd = fd;
    c->upstream_fd = -1;
    uint64_t seed = s->o.seed + s->connections++ * 0xD1B54A32D192ED03ull;
    c->rng = fp_random(&seed);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&s->lock);
    s->active++;
    pthread_mutex_unlock(&s->lock);
    pthread_attr_t attr;
    pthread_t thread;
    int started = pthread_attr_init(&attr) == 0;
    if (started) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&thread, &attr, fp_conn_main, c) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) fp_conn_free(c);
}

static void *fp_accept_main(void *arg)
{
    fp_server *s = arg;
    struct pollfd p[2] = { { s->listen_fd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };
    while (poll(p, 2, -1) >= 0 && !p[1].revents) {
        if (!p[0].revents) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd >= 0) fp_start_conn(s, fd);
        else poll(&p[1], 1, 10);   /* out of descriptors: do not spin */
    }
    return NULL;
}

/* --- the server --- */

static int fp_usage(const char *what, const char *arg)
{
    fprintf(stderr, "faultproxy: %s%s%s\n"
            "usage: faultproxy silent [--stats FILE] [--seconds N]\n"
            "       faultproxy proxy --upstream PORT [--rate R] [--faults LIST] [--seed S] [--delay-ms MS]\n"
            "                        [--max-faults N] [--after N] [--only OP] [--stats FILE] [--seconds N]\n"
            "                        [--throttle-rate RPS]\n"
            "       faultproxy meter --upstream PORT [--stats FILE] [--seconds N]\n"
            "faults: throttle,throttling,500,503html,reset-before,reset-after,delay,truncate,crc,badjson\n",
            what, arg ? " " : "", arg ? arg : "");
    return -1;
}

static int fp_parse_long(const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) return -1;
    *out = n;
    return 0;
}

/* A comma-separated list of kinds, or "all". */
static int fp_parse_faults(const char *list, fp_options *o)
{
    int enabled[FP_KINDS] = { 0 };
    int all = strcmp(list, "all") == 0;
    for (const char *p = list; !all && *p;) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int k = 0; k < FP_KINDS; k++)
            if (strlen(FP_KIND_NAMES[k]) == n && strncmp(p, FP_KIND_NAMES[k], n) == 0) found = k;
        if (found < 0) return -1;
        enabled[found] = 1;
        p += n + (p[n] == ',');
    }
    o->kind_count = 0;
    for (int k = 0; k < FP_KINDS; k++)
        if (all || enabled[k]) o->kinds[o->kind_count++] = k;
    return o->kind_count > 0 ? 0 : -1;
}

static int fp_parse_option(const char *name, const char *v, fp_options *o)
{
    long n;
    char *end;
    if (strcmp(name, "--stats") == 0) {
        o->stats_path = v;
    } else if (strcmp(name, "--seconds") == 0) {
        if (fp_parse_long(v, 1, 86400, &o->seconds) != 0) return fp_usage("--seconds must be 1 to 86400, not", v);
    } else if (o->silent) {
        return fp_usage("unknown option for silent:", name);
    } else if (strcmp(name, "--upstream") == 0) {
        if (fp_parse_long(v, 1, 65535, &n) != 0) return fp_usage("--upstream must be a port, not", v);
        o->upstream_port = (int)n;
    } else if (o->meter) {
        return fp_usage("unknown option for meter:", name);
    } else if (strcmp(name, "--rate") == 0) {
        o->rate = strtod(v, &end);
        if (end == v || *end || !(o->rate >= 0 && o->rate <= 1)) return fp_usage("--rate must be 0 to 1, not", v);
    } else if (strcmp(name, "--faults") == 0) {
        if (fp_parse_faults(v, o) != 0) return fp_usage("unknown fault in", v);
    } else if (strcmp(name, "--seed") == 0) {
        errno = 0;
        o->seed = strtoull(v, &end, 10);
        if (errno || end == v || *end) return fp_usage("--seed must be a whole number, not", v);
    } else if (strcmp(name, "--delay-ms") == 0) {
        if (fp_parse_long(v, 0, 600000, &o->delay_ms) != 0) return fp_usage("--delay-ms must be 0 to 600000, not", v);
    } else if (strcmp(name, "--max-faults") == 0) {
        if (fp_parse_long(v, 0, 1000000000, &o->max_faults) != 0) return fp_usage("bad --max-faults", v);
    } else if (strcmp(name, "--throttle-rate") == 0) {
        if (fp_parse_long(v, 1, 1000000, &o->throttle_rate) != 0) return fp_usage("bad --throttle-rate", v);
    } else if (strcmp(name, "--only") == 0) {
        o->only = v;
    } else if (strcmp(name, "--after") == 0) {
        if (fp_parse_long(v, 0, 1000000000, &o->after) != 0) return fp_usage("bad --after", v);
    } else {
        return fp_usage("unknown option", name);
    }
    return 0;
}

static int fp_parse_options(int argc, char **argv, fp_options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1, o->delay_ms = 1500, o->max_faults = -1, o->seconds = 600;
    fp_parse_faults("all", o);
    if (argc < 2 || (strcmp(argv[1], "silent") != 0 && strcmp(argv[1], "proxy") != 0 &&
                      strcmp(argv[1], "meter") != 0))
        return fp_usage("the first argument must be silent, proxy or meter", NULL);
    o->silent = strcmp(argv[1], "silent") == 0;
    o->meter = strcmp(argv[1], "meter") == 0;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 == argc) return fp_usage("missing a value after", argv[i]);
        if (fp_parse_option(argv[i], argv[i + 1], o) != 0) return -1;
    }
    if (!o->silent && !o->upstream_port) return fp_usage("proxy and meter need --upstream PORT", NULL);
    if (o->meter) o->rate = 0;
    return 0;
}

/* Listens on 127.0.0.1 on a free port; returns the port or -1. */
static int fp_listen(fp_server *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->listen_fd, 128) != 0 || getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("faultproxy: listening on 127.0.0.1");
        return -1;
    }
    return ntohs(a.sin_port);
}

/* Returns at SIGINT/SIGTERM (blocked in every thread, so taken here) or after `seconds`. */
static void fp_wait_for_stop(const sigset_t *signals, long seconds)
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

/* Waits (a bounded time) for the connection threads, which the stop pipe has
 * woken. Returns 1 when all have finished. */
static int fp_drain(fp_server *s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += FP_DRAIN_S;
    pthread_mutex_lock(&s->lock);
    while (s->active > 0 && pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == 0) {}
    int left = s->active;
    pthread_mutex_unlock(&s->lock);
    if (left > 0) fprintf(stderr, "faultproxy: %d connections still open at exit\n", left);
    return left == 0;
}

static int fp_write_stats(const fp_server *s)
{
    if (!s->o.stats_path) return 0;
    FILE *f = fopen(s->o.stats_path, "w");
    if (!f) {
        perror("faultproxy: writing the stats");
        return 1;
    }
    for (int k = 0; k < FP_KINDS; k++) fprintf(f, "%s %ld\n", FP_KIND_NAMES[k], atomic_load(&s->injected[k]));
    fprintf(f, "throttled %ld\n", atomic_load(&s->throttle.throttled));
    fprintf(f, "requests %ld\nonly_requests %ld\nforwarded %ld\nupstream_errors %ld\nchunked %ld\nconnections %llu\n",
            atomic_load(&s->requests), atomic_load(&s->only_requests), atomic_load(&s->forwarded),
            atomic_load(&s->upstream_errors),
            atomic_load(&s->chunked), (unsigned long long)s->connections);
    fp_meter_write(s->meter, f);
    return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    fp_server s;
    memset(&s, 0, sizeof s);
    s.listen_fd = s.stop_pipe[0] = s.stop_pipe[1] = -1;
    if (argc > 1 && strcmp(argv[1], "latency") == 0) return fp_latency_main(argc, argv);
    if (fp_parse_options(argc, argv, &s.o) != 0) return 2;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);   /* before any thread: they inherit it */
    int port = fp_listen(&s);
    if (port < 0 || pipe(s.stop_pipe) != 0) {
        if (s.listen_fd >= 0) close(s.listen_fd);
        return 1;
    }
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.idle, NULL);
    if (s.o.throttle_rate > 0) fp_throttle_init(&s.throttle, s.o.throttle_rate);
    fp_meter meter;
    if (s.o.meter) {
        memset(&meter, 0, sizeof meter);
        pthread_mutex_init(&meter.lock, NULL);
        s.meter = &meter;
    }
    pthread_t acceptor;
    int rc = 1, drained = 1;
    if (pthread_create(&acceptor, NULL, fp_accept_main, &s) == 0) {
        printf("PORT %d PID %ld\n", port, (long)getpid());
        fflush(stdout);
        fp_wait_for_stop(&signals, s.o.seconds);
        close(s.stop_pipe[1]);
        s.stop_pipe[1] = -1;
        pthread_join(acceptor, NULL);
        drained = fp_drain(&s);
        rc = fp_write_stats(&s);
    } else {
        fprintf(stderr, "faultproxy: cannot start the accept thread\n");
    }
    close(s.listen_fd);
    close(s.stop_pipe[0]);
    if (s.stop_pipe[1] >= 0) close(s.stop_pipe[1]);
    if (drained) {   /* a straggler past the drain would still use them */
        pthread_cond_destroy(&s.idle);
        pthread_mutex_destroy(&s.lock);
        if (s.o.throttle_rate > 0) pthread_mutex_destroy(&s.throttle.lock);
    }
    return rc;
}
