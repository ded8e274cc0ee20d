#define _GNU_SOURCE  /* strcasestr */
/* The client's handling of what a server answers: checksums, error bodies,
 * retries, secrets kept out of messages. A tiny HTTP server on a loopback
 * port in this process plays the server, one canned response per request. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "client.h"

#define MAX_REPLIES 8

typedef struct canned {
    int status;
    const char *body;
    int crc;            /* 1: correct x-amz-crc32, -1: wrong one, 0: none */
    int hang_up;        /* read the request, then close without answering */
    int close_after;    /* answer, then close the kept-alive connection (and say so on closed_fd) */
} canned;

typedef struct server {
    int listen_fd, port;
    canned replies[MAX_REPLIES];
    int reply_count, served;
    char last_request[8192];
    int closed_pipe[2];   /* the server writes a byte here after a close_after close */
    pthread_t thread;
} server;

static int read_request(int fd, char *buf, size_t size)
{
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = recv(fd, buf + n, size - n - 1, 0);
        if (r <= 0) return -1;
        n += (size_t)r;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strcasestr(buf, "content-length:");
    size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
    while (n < want) {
        ssize_t r = recv(fd, buf + n, size - n - 1, 0);
        if (r <= 0) return -1;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return 0;
}

static void send_reply(int fd, const canned *c)
{
    char head[512], crc[64] = "";
    size_t len = strlen(c->body);
    unsigned long sum = crc32(0L, (const Bytef *)c->body, (uInt)len);
    if (c->crc) snprintf(crc, sizeof crc, "x-amz-crc32: %lu\r\n", c->crc > 0 ? sum : sum + 1);
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nx-amzn-RequestId: REQ%d\r\n%s\r\n",
                     c->status, len, c->status, crc);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    send(fd, c->body, len, MSG_NOSIGNAL);
}

static void *serve(void *arg)
{
    server *s = arg;
    int fd = -1;
    while (s->served < s->reply_count) {
        if (fd < 0 && (fd = accept(s->listen_fd, NULL, NULL)) < 0) break;
        if (read_request(fd, s->last_request, sizeof s->last_request) != 0) {
            close(fd);
            fd = -1;
            continue;
        }
        const canned *reply = &s->replies[s->served++];
        if (reply->hang_up) {
            close(fd);
            fd = -1;
        } else {
            send_reply(fd, reply);
        }
        if (reply->close_after && fd >= 0) {
            close(fd);
            fd = -1;
            if (write(s->closed_pipe[1], "x", 1) != 1) break;
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static void start_server(server *s)
{
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(0, bind(s->listen_fd, (struct sockaddr *)&a, sizeof a));
    assert_int_equal(0, listen(s->listen_fd, 4));
    getsockname(s->listen_fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    assert_int_equal(0, pipe(s->closed_pipe));
    pthread_create(&s->thread, NULL, serve, s);
}

static void stop_server(server *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    close(s->listen_fd);
    pthread_join(s->thread, NULL);
    close(s->closed_pipe[0]);
    close(s->closed_pipe[1]);
}

static ddb_client *client_for(const server *s, int attempts, const char *token)
{
    ddb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "http://127.0.0.1:%d", s->port);
    strcpy(cfg.region, "us-east-1");
    strcpy(cfg.access_key, "AKIDTEST");
    strcpy(cfg.secret_key, "SECRETKEYVALUE123");
    if (token) strcpy(cfg.session_token, token);
    cfg.connect_timeout_ms = 1000;
    cfg.request_timeout_ms = 2000;
    cfg.retry = (retry_policy){ attempts, 1, 2.0, 5 };
    ddb_error err;
    ddb_client *c = ddb_client_new(&cfg, &err);
    assert_non_null(c);
    return c;
}

static void run(server *s, int attempts, const char *token, int *rc, json_t **out, ddb_error *err)
{
    start_server(s);
    ddb_client *c = client_for(s, attempts, token);
    *rc = ddb_client_call(c, "ListTables", "{}", 2, NULL, out, err);
    ddb_client_free(c);
    stop_server(s);
}

static void good_checksum_parses(void **state)
{
    (void)state;
    server s = { .replies = { { 200, "{\"TableNames\":[\"a\"]}", 1 } }, .reply_count = 1 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 3, NULL, &rc, &out, &err);
    assert_int_equal(0, rc);
    assert_string_equal("a", json_string_value(json_array_get(json_object_get(out, "TableNames"), 0)));
    json_decref(out);
    assert_non_null(strstr(s.last_request, "X-Amz-Target: DynamoDB_20120810.ListTables\r\n"));
    assert_non_null(strstr(s.last_request, "Content-Type: application/x-amz-json-1.0\r\n"));
    assert_non_null(strstr(s.last_request, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
    assert_non_null(strstr(s.last_request, "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="));
}

static void bad_checksum_is_retried_then_reported(void **state)
{
    (void)state;
    server s = { .replies = { { 200, "{}", -1 }, { 200, "{}", -1 }, { 200, "{}", -1 } }, .reply_count = 3 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 3, NULL, &rc, &out, &err);
    assert_int_equal(-1, rc);
    assert_string_equal("ChecksumMismatch", err.code);
    assert_true(err.retryable);
    assert_int_equal(3, err.attempts);
    assert_int_equal(3, s.served);
    assert_true(err.uncertain);
}

static void checksum_failure_then_success(void **state)
{
    (void)state;
    server s = { .replies = { { 200, "{}", -1 }, { 200, "{\"ok\":1}", 1 } }, .reply_count = 2 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 3, NULL, &rc, &out, &err);
    assert_int_equal(0, rc);
    assert_int_equal(1, json_integer_value(json_object_get(out, "ok")));
    json_decref(out);
}

static void error_body_gives_code_and_message(void **state)
{
    (void)state;
    server s = { .replies = { { 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                                     "\"Message\":\"The conditional request failed\"}", 1 } }, .reply_count = 1 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 3, NULL, &rc, &out, &err);
    assert_int_equal(-1, rc);
    assert_string_equal("ConditionalCheckFailedException", err.code);
    assert_string_equal("The conditional request failed", err.message);
    assert_int_equal(400, err.status);
    assert_false(err.retryable);
    assert_int_equal(1, err.attempts);
    assert_string_equal("REQ400", err.request_id);
}

static void throttling_is_retried(void **state)
{
    (void)state;
    server s = { .replies = {
        { 400, "{\"__type\":\"#ProvisionedThroughputExceededException\",\"message\":\"slow down\"}", 0 },
        { 400, "{\"__type\":\"#ThrottlingException\",\"message\":\"slow down\"}", 0 },
        { 200, "{}", 0 } }, .reply_count = 3 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 3, NULL, &rc, &out, &err);
    assert_int_equal(0, rc);
    assert_int_equal(3, s.served);
    json_decref(out);
}

static void html_503_is_retryable_service_unavailable(void **state)
{
    (void)state;
    server s = { .replies = { { 503, "<html>busy</html>", 0 }, { 503, "<html>busy</html>", 0 } }, .reply_count = 2 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 2, NULL, &rc, &out, &err);
    assert_int_equal(-1, rc);
    assert_string_equal("ServiceUnavailable", err.code);
    assert_true(err.retryable);
    assert_int_equal(2, err.attempts);
    assert_non_null(strstr(err.message, "(the body is not JSON)"));
}

static void malformed_json_is_an_invalid_response(void **state)
{
    (void)state;
    server s = { .replies = { { 200, "{\"Items\": [", 0 } }, .reply_count = 1 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 1, NULL, &rc, &out, &err);
    assert_int_equal(-1, rc);
    assert_string_equal("InvalidResponse", err.code);
    assert_true(err.retryable);
}

/* curl re-sends on a new connection when a kept-alive one dies unanswered;
 * the first copy may have been applied, so a later condition failure must
 * be reported as uncertain even when a plain error came in between. */
static void hidden_resend_makes_later_errors_uncertain(void **state)
{
    (void)state;
    server s = { .replies = {
        { 200, "{}", 0, 0 },
        { 0, "", 0, 1 },
        { 400, "{\"__type\":\"#ThrottlingException\",\"message\":\"slow down\"}", 0, 0 },
        { 400, "{\"__type\":\"#ConditionalCheckFailedException\",\"message\":\"failed\"}", 0, 0 } },
        .reply_count = 4 };
    start_server(&s);
    ddb_client *c = client_for(&s, 3, NULL);
    ddb_error err;
    assert_int_equal(0, ddb_client_call(c, "UpdateItem", "{}", 2, NULL, NULL, &err));
    assert_int_equal(-1, ddb_client_call(c, "UpdateItem", "{}", 2, NULL, NULL, &err));
    ddb_client_free(c);
    stop_server(&s);
    assert_int_equal(4, s.served);
    assert_string_equal("ConditionalCheckFailedException", err.code);
    assert_int_equal(2, err.attempts);
    assert_true(err.uncertain);
}

static void a_plain_condition_failure_is_certain(void **state)
{
    (void)state;
    server s = { .replies = { { 400, "{\"__type\":\"#ConditionalCheckFailedException\",\"message\":\"failed\"}", 0, 0 } },
                 .reply_count = 1 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 3, NULL, &rc, &out, &err);
    assert_int_equal(-1, rc);
    assert_false(err.uncertain);
}

/* Issue 9.4: a kept-alive connection that the server closed while idle is
 * dropped by curl before it sends anything: the request went out once, so a
 * condition failure on the new connection is certain. */
static void stale_connection_dropped_before_sending_is_certain(void **state)
{
    (void)state;
    char byte;
    server s = { .replies = {
        { 200, "{}", 0, 0, 1 },
        { 400, "{\"__type\":\"#ConditionalCheckFailedException\",\"message\":\"failed\"}", 0, 0, 0 } },
        .reply_count = 2 };
    start_server(&s);
    ddb_client *c = client_for(&s, 3, NULL);
    ddb_error err;
    assert_int_equal(0, ddb_client_call(c, "UpdateItem", "{}", 2, NULL, NULL, &err));
    assert_int_equal(1, read(s.closed_pipe[0], &byte, 1));   /* the server has closed it */
    assert_int_equal(-1, ddb_client_call(c, "UpdateItem", "{}", 2, NULL, NULL, &err));
    ddb_client_free(c);
    stop_server(&s);
    assert_int_equal(2, s.served);
    assert_string_equal("ConditionalCheckFailedException", err.code);
    assert_int_equal(1, err.attempts);
    assert_false(err.uncertain);
}

/* Issue 9.4: the status is read before the checksum: a 400 whose body was
 * damaged on the way is a refusal (retried, but certain), so the condition
 * failure that follows is not taken for our own earlier write. */
static void damaged_condition_failure_is_certain(void **state)
{
    (void)state;
    server s = { .replies = {
        { 400, "{\"__type\":\"#ConditionalCheckFailedException\",\"message\":\"failed\"}", -1, 0, 0 },
        { 400, "{\"__type\":\"#ConditionalCheckFailedException\",\"message\":\"failed\"}", 1, 0, 0 } },
        .reply_count = 2 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 3, NULL, &rc, &out, &err);
    assert_int_equal(-1, rc);
    assert_int_equal(2, s.served);
    assert_string_equal("ConditionalCheckFailedException", err.code);
    assert_int_equal(2, err.attempts);
    assert_false(err.uncertain);
}

static void secrets_are_redacted_from_messages(void **state)
{
    (void)state;
    server s = { .replies = { { 403, "{\"__type\":\"#InvalidSignatureException\",\"message\":\"bad: "
                                     "x-amz-security-token:TOKEN1234567890 and SECRETKEYVALUE123\"}", 0 } },
                 .reply_count = 1 };
    int rc;
    json_t *out = NULL;
    ddb_error err;
    run(&s, 1, "TOKEN1234567890", &rc, &out, &err);
    assert_int_equal(-1, rc);
    assert_null(strstr(err.message, "TOKEN1234567890"));
    assert_null(strstr(err.message, "SECRETKEYVALUE123"));
    assert_string_equal("bad: x-amz-security-token:**** and ****", err.message);
    assert_non_null(strstr(s.last_request, "X-Amz-Security-Token: TOKEN1234567890\r\n"));
}

static void refused_connection_names_the_endpoint(void **state)
{
    (void)state;
    server s = { .reply_count = 0 };
    start_server(&s);
    int port = s.port;
    stop_server(&s);   /* nothing listens there now */
    s.port = port;
    ddb_client *c = client_for(&s, 2, NULL);
    ddb_error err;
    assert_int_equal(-1, ddb_client_call(c, "ListTables", "{}", 2, NULL, NULL, &err));
    ddb_client_free(c);
    assert_string_equal("ConnectionError", err.code);
    assert_int_equal(2, err.attempts);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    assert_non_null(strstr(err.message, endpoint));
}

static void missing_credentials_are_refused(void **state)
{
    (void)state;
    ddb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.endpoint, "http://127.0.0.1:1");
    strcpy(cfg.region, "us-east-1");
    ddb_error err;
    assert_null(ddb_client_new(&cfg, &err));
    assert_string_equal("ConfigError", err.code);
    assert_non_null(strstr(err.message, "AWS_ACCESS_KEY_ID"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_checksum_parses),
        cmocka_unit_test(bad_checksum_is_retried_then_reported),
        cmocka_unit_test(checksum_failure_then_success),
        cmocka_unit_test(error_body_gives_code_and_message),
        cmocka_unit_test(throttling_is_retried),
        cmocka_unit_test(html_503_is_retryable_service_unavailable),
        cmocka_unit_test(malformed_json_is_an_invalid_response),
        cmocka_unit_test(hidden_resend_makes_later_errors_uncertain),
        cmocka_unit_test(stale_connection_dropped_before_sending_is_certain),
        cmocka_unit_test(damaged_condition_failure_is_certain),
        cmocka_unit_test(a_plain_condition_failure_is_certain),
        cmocka_unit_test(secrets_are_redacted_from_messages),
        cmocka_unit_test(refused_connection_names_the_endpoint),
        cmocka_unit_test(missing_credentials_are_refused),
    };
    int failed = cmocka_run_group_tests_name("client", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
