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
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>
#include "fp_latency.h"
#include "toolnet.h"

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

typedef struct fp_conn {
    fp_server *s;
    uint64_t rng;
    tn_conn io;
} fp_conn;

/* --- I/O that a stop interrupts (toolnet.h) --- */

static int fp_write(fp_conn *c, int fd, const char *data, size_t len)
{
    return tn_write(c->s->stop_pipe[0], fd, data, len);
}

static int fp_sleep(fp_conn *c, long ms)
{
    return tn_sleep(c->s->stop_pipe[0], ms);
}

static long fp_read_request(fp_conn *c)
{
    return tn_read_request(c->s->stop_pipe[0], c->io.client_fd, &c->io.in);
}

/* --- the upstream side --- */

/* Reads one response from upstream into c->io.head and c->io.body. Returns 0, or
 * -1 when upstream failed. *close_after says upstream is closing the connection. */
static int fp_read_response(fp_conn *c, int *close_after)
{
    int chunked = 0;
    int rc = tn_read_response(c->s->stop_pipe[0], c->io.upstream_fd, &c->io.up, &c->io.head, &c->io.body, close_after,
                              &chunked);
    if (chunked) atomic_fetch_add(&c->s->chunked, 1);
    return rc;
}

/* Sends the request (the first len bytes of c->io.in) upstream and reads the
 * answer into c->io.head and c->io.body. Returns 0, or -1 when upstream failed
 * (counted unless our stop cut it short). */
static int fp_forward(fp_conn *c, size_t len)
{
    int close_after = 0;
    int ok = tn_conn_upstream(&c->io, c->s->o.upstream_port) == 0 &&
             fp_write(c, c->io.upstream_fd, c->io.in.data, len) == 0 && fp_read_response(c, &close_after) == 0;
    if (!ok || close_after) tn_conn_close_upstream(&c->io);
    if (ok || fp_sleep(c, 0) == 0) atomic_fetch_add(ok ? &c->s->forwarded : &c->s->upstream_errors, 1);
    return ok ? 0 : -1;
}

/* --- answering the client --- */

/* Sends c->io.head with a Content-Length of `declared`, then the first send_len bytes of body. */
static int fp_send_response(fp_conn *c, const char *body, size_t declared, size_t send_len)
{
    if (tn_buf_printf(&c->io.head, "Content-Length: %zu\r\n\r\n", declared) != 0 ||
        fp_write(c, c->io.client_fd, c->io.head.data, c->io.head.len) != 0)
        return -1;
    return fp_write(c, c->io.client_fd, body, send_len);
}

static int fp_send_synthetic(fp_conn *c, int status, const char *reason, const char *type, const char *body,
                             int with_crc)
{
    size_t len = strlen(body);
    c->io.head.len = 0;
    int rc = tn_buf_printf(&c->io.head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nx-amzn-RequestId: faultproxy-%ld\r\n",
                           status, reason, type, atomic_load(&c->s->requests));
    if (rc == 0 && with_crc)
        rc = tn_buf_printf(&c->io.head, "x-amz-crc32: %lu\r\n", crc32(0L, (const Bytef *)body, (uInt)len));
    return rc == 0 ? fp_send_response(c, body, len, len) : -1;
}

/* Closes the client connection with a TCP RST instead of a FIN. */
static void fp_reset(fp_conn *c)
{
    struct linger l = { 1, 0 };
    setsockopt(c->io.client_fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(c->io.client_fd);
    c->io.client_fd = -1;
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
/* True when the request of len bytes at the start of c->io.in may get a fault:
 * there is no --only, or its X-Amz-Target names that operation. */
static int fp_eligible(fp_conn *c, size_t len)
{
    const char *only = c->s->o.only;
    if (!only) return 1;
    const char *v;
    size_t vlen;
    if (!tn_header(c->io.in.data, len, "X-Amz-Target", &v, &vlen)) return 0;
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
    if (!tn_header(c->io.head.data, c->io.head.len, "x-amz-crc32", &v, &len) &&
        tn_buf_printf(&c->io.head, "x-amz-crc32: %lu\r\n", crc32(0L, (const Bytef *)c->io.body.data, (uInt)c->io.body.len)) != 0)
        return -1;
    if (c->io.body.len) c->io.body.data[c->io.body.len / 2] ^= 0x01;
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
    size_t head = tn_head_length(&c->io.in), plen = strlen(pattern);
    out[0] = '\0';
    for (size_t i = head; i + plen < len; i++) {
        if (memcmp(c->io.in.data + i, pattern, plen) != 0) continue;
        size_t n = 0;
        for (i += plen; i < len && c->io.in.data[i] != '"' && n + 1 < size; i++) out[n++] = c->io.in.data[i];
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
    tn_buf body = { NULL, 0, 0 };
    int rc = tn_buf_printf(&body, "{\"__type\":\"com.amazon.coral.availability#ThrottlingException\","
                           "\"message\":\"Throughput exceeds the current capacity for one or more resources\","
                           "\"ThrottlingReasons\":[{\"reason\":\"%s\",\"resource\":"
                           "\"arn:aws:dynamodb:ddblocal:000000000000:table/%s%s%s\"}]}",
                           index[0] ? "IndexReadKeyRangeThroughputExceeded" : "TableKeyRangeThroughputExceeded",
                           table, index[0] ? "/index/" : "", index);
    if (rc == 0) rc = fp_send_synthetic(c, 400, "Bad Request", FP_JSON, body.data, 1);
    free(body.data);
    return rc;
}

/* Answers request number n, of len bytes at the start of c->io.in, perhaps with
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
    case FP_TRUNCATE: fp_send_response(c, c->io.body.data, c->io.body.len, c->io.body.len / 2); return -1;
    case FP_CRC: if (fp_corrupt(c) != 0) return -1; break;
    case FP_BADJSON: return fp_send_synthetic(c, 200, "OK", FP_JSON, FP_BADJSON_BODY, 0);
    default: break;
    }
    return fp_send_response(c, c->io.body.data, c->io.body.len, c->io.body.len);
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

/* Forwards request c->io.in[0..len) and meters it. Returns 0 to keep the connection. */
static int fp_meter_handle(fp_conn *c, size_t len)
{
    size_t h = tn_head_length(&c->io.in);
    const char *target;
    size_t target_len;
    if (!tn_header(c->io.in.data, h, "X-Amz-Target", &target, &target_len)) target_len = 0;
    const char *dot = target_len ? memchr(target, '.', target_len) : NULL;
    size_t op_len = dot ? target_len - (size_t)(dot + 1 - target) : 0;
    int is_read = dot && fp_meter_is_read(dot + 1, op_len);
    int is_data = dot && fp_meter_is_data(dot + 1, op_len);
    json_t *request = json_loadb(c->io.in.data + h, len - h, 0, NULL);
    int rc = fp_forward(c, len);
    if (rc == 0) {
        json_t *response = json_loadb(c->io.body.data, c->io.body.len, 0, NULL);
        fp_meter_response(c->s->meter, request, is_read, is_data, tn_status(c->io.head.data, c->io.head.len), response);
        json_decref(response);
        rc = fp_send_response(c, c->io.body.data, c->io.body.len, c->io.body.len);
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
    tn_conn_release(&c->io);
    free(c);
    tn_thread_done(&s->lock, &s->idle, &s->active);
}

static void *fp_conn_main(void *arg)
{
    fp_conn *c = arg;
    long len;
    while ((len = fp_read_request(c)) > 0) {
        long n = atomic_fetch_add(&c->s->requests, 1) + 1;
        if (c->s->o.meter && fp_meter_handle(c, (size_t)len) != 0) break;
        if (!c->s->o.silent && !c->s->o.meter && fp_handle(c, (size_t)len, n) != 0) break;
        tn_buf_consume(&c->io.in, (size_t)len);
    }
    fp_conn_free(c);
    return NULL;
}

static void fp_start_conn(void *server, int fd)
{
    fp_server *s = server;
    fp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->s = s;
    tn_conn_init(&c->io, fd);
    uint64_t seed = s->o.seed + s->connections++ * 0xD1B54A32D192ED03ull;
    c->rng = fp_random(&seed);
    if (tn_thread_start(&s->lock, &s->active, fp_conn_main, c) != 0) fp_conn_free(c);
}

static void *fp_accept_main(void *arg)
{
    fp_server *s = arg;
    tn_accept_loop(s->listen_fd, s->stop_pipe[0], fp_start_conn, s);
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
        if (tn_parse_long(v, 1, 86400, &o->seconds) != 0) return fp_usage("--seconds must be 1 to 86400, not", v);
    } else if (o->silent) {
        return fp_usage("unknown option for silent:", name);
    } else if (strcmp(name, "--upstream") == 0) {
        if (tn_parse_long(v, 1, 65535, &n) != 0) return fp_usage("--upstream must be a port, not", v);
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
        if (tn_parse_long(v, 0, 600000, &o->delay_ms) != 0) return fp_usage("--delay-ms must be 0 to 600000, not", v);
    } else if (strcmp(name, "--max-faults") == 0) {
        if (tn_parse_long(v, 0, 1000000000, &o->max_faults) != 0) return fp_usage("bad --max-faults", v);
    } else if (strcmp(name, "--throttle-rate") == 0) {
        if (tn_parse_long(v, 1, 1000000, &o->throttle_rate) != 0) return fp_usage("bad --throttle-rate", v);
    } else if (strcmp(name, "--only") == 0) {
        o->only = v;
    } else if (strcmp(name, "--after") == 0) {
        if (tn_parse_long(v, 0, 1000000000, &o->after) != 0) return fp_usage("bad --after", v);
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
    int port = tn_listen_loopback(&s.listen_fd, "faultproxy");
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
        tn_wait_for_stop(&signals, s.o.seconds);
        close(s.stop_pipe[1]);
        s.stop_pipe[1] = -1;
        pthread_join(acceptor, NULL);
        drained = tn_drain(&s.lock, &s.idle, &s.active, "faultproxy");
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
