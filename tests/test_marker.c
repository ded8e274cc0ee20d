/* The marker (asynchronous marks) against the DynamoDB Local that
 * tests/run.sh started: every submitted mark is reported exactly once with
 * the right outcome, pending marks never exceed the capacity, failures carry
 * their attempts, and a refused lease check sends nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "live.h"
#include "marker.h"

#define TM_MARKED 300       /* Processed = 0: marked */
#define TM_DONE 20          /* Processed = 1 already: not marked */
#define TM_MISSING 10       /* no such item: not marked */
#define TM_CAPACITY 8

typedef struct tm_outcomes {
    atomic_int reports, marked, not_marked, failed, attempts_on_failure;
    char last_code[64];     /* the marker thread's only */
} tm_outcomes;

static void tm_on_done(void *ud, const record_key *key, record_mark_result r, const ddb_error *err)
{
    tm_outcomes *o = ud;
    (void)key;
    atomic_fetch_add(&o->reports, 1);
    if (r == RECORD_MARKED) {
        atomic_fetch_add(&o->marked, 1);
        return;
    }
    snprintf(o->last_code, sizeof o->last_code, "%s", err->code);
    if (r == RECORD_NOT_MARKED) {
        atomic_fetch_add(&o->not_marked, 1);
        return;
    }
    atomic_fetch_add(&o->failed, 1);
    atomic_store(&o->attempts_on_failure, err->attempts);
}

static int tm_refuse(void *ud, const record_key *key, ddb_error *err)
{
    (void)ud;
    (void)key;
    ddb_error_set(err, "LeaseExpired", 0, "the lease ran out before the mark was sent");
    return 0;
}

static void tm_call(ddb_client *c, const char *op, json_t *req)
{
    ddb_error err;
    int rc = ddb_client_call_json(c, op, req, NULL, NULL, &err);
    if (rc != 0) print_error("%s: %s: %s\n", op, err.code, err.message);
    assert_int_equal(0, rc);
    json_decref(req);
}

static void tm_key(int i, char acct[32], char rt[32])
{
    snprintf(acct, 32, "acct-%03d", i % 17);
    snprintf(rt, 32, "2026-01-01T00:%02d:%02dZ", i / 60, i % 60);
}

static record_key tm_record_key(const char *acct, const char *rt)
{
    record_key k = { acct, strlen(acct), rt, strlen(rt) };
    return k;
}

/* A Records-shaped table with TM_MARKED unprocessed and TM_DONE processed items. */
static void tm_make_table(ddb_client *c, const char *table)
{
    tm_call(c, "CreateTable", json_pack("{s:s,s:s,s:[{s:s,s:s},{s:s,s:s}],s:[{s:s,s:s},{s:s,s:s}]}",
                                        "TableName", table, "BillingMode", "PAY_PER_REQUEST", "AttributeDefinitions",
                                        "AttributeName", "AccountId", "AttributeType", "S",
                                        "AttributeName", "RunTime", "AttributeType", "S", "KeySchema",
                                        "AttributeName", "AccountId", "KeyType", "HASH",
                                        "AttributeName", "RunTime", "KeyType", "RANGE"));
    for (int i = 0; i < TM_MARKED + TM_DONE; i++) {
        char acct[32], rt[32];
        tm_key(i, acct, rt);
        tm_call(c, "PutItem", json_pack("{s:s,s:{s:{s:s},s:{s:s},s:{s:s}}}", "TableName", table, "Item",
                                        "AccountId", "S", acct, "RunTime", "S", rt,
                                        "Processed", "N", i < TM_MARKED ? "0" : "1"));
    }
}

static long tm_count_processed(ddb_client *c, const char *table)
{
    json_t *req = json_pack("{s:s,s:s,s:s,s:{s:s},s:{s:{s:s}},s:b}", "TableName", table, "Select", "COUNT",
                            "FilterExpression", "#p = :one", "ExpressionAttributeNames", "#p", "Processed",
                            "ExpressionAttributeValues", ":one", "N", "1", "ConsistentRead", 1);
    json_t *out = NULL;
    ddb_error err;
    int rc = ddb_client_call_json(c, "Scan", req, NULL, &out, &err);
    if (rc != 0) print_error("Scan: %s: %s\n", err.code, err.message);
    assert_int_equal(0, rc);
    long n = (long)json_integer_value(json_object_get(out, "Count"));
    json_decref(req);
    json_decref(out);
    return n;
}

static void marks_each_record_once_within_capacity(void **state)
{
    (void)state;
    live l;
    live_open(&l);
    ddb_client *admin = l.admin;
    ddb_error err;
    record_table t;
    memset(&t, 0, sizeof t);
    snprintf(t.table, sizeof t.table, "cmarker_%ld_%d", (long)time(NULL), (int)getpid());
    tm_make_table(admin, t.table);

    tm_outcomes o;
    memset(&o, 0, sizeof o);
    marker_settings s = { &t, { 3, 10, 2.0, 100 }, 3, TM_CAPACITY, NULL, tm_on_done, NULL, &o };
    marker *m = marker_start(&s, &l.cfg, &err);
    assert_non_null(m);
    int most_pending = 0;
    for (int i = 0; i < TM_MARKED + TM_DONE + TM_MISSING; i++) {
        char acct[32], rt[32];
        tm_key(i, acct, rt);
        record_key key = tm_record_key(acct, rt);
        assert_int_equal(0, marker_submit(m, &key, &err));
        int pending = i + 1 - atomic_load(&o.reports);   /* at least what the marker holds */
        if (pending > most_pending) most_pending = pending;
    }
    marker_finish(m);
    assert_int_equal(TM_MARKED + TM_DONE + TM_MISSING, atomic_load(&o.reports));
    assert_int_equal(TM_MARKED, atomic_load(&o.marked));
    assert_int_equal(TM_DONE + TM_MISSING, atomic_load(&o.not_marked));
    assert_int_equal(0, atomic_load(&o.failed));
    assert_string_equal("ConditionalCheckFailedException", o.last_code);
    assert_true(most_pending <= TM_CAPACITY);
    assert_int_equal(TM_MARKED + TM_DONE, tm_count_processed(admin, t.table));

    tm_call(admin, "DeleteTable", json_pack("{s:s}", "TableName", t.table));
    live_close(&l);   /* every marker finished, every client freed */
}

static void reports_failures_and_refusals(void **state)
{
    (void)state;
    live l;
    live_open(&l);
    ddb_error err;
    record_table t;
    memset(&t, 0, sizeof t);
    snprintf(t.table, sizeof t.table, "cmarker_missing_%d", (int)getpid());

    record_key one = tm_record_key("acct-1", "2026-01-01T00:00:00Z");

    /* no such table: not retryable, reported after one attempt */
    tm_outcomes o;
    memset(&o, 0, sizeof o);
    marker_settings s = { &t, { 4, 1, 2.0, 10 }, 2, 4, NULL, tm_on_done, NULL, &o };
    marker *m = marker_start(&s, &l.cfg, &err);
    assert_non_null(m);
    assert_int_equal(0, marker_submit(m, &one, &err));
    marker_finish(m);
    assert_int_equal(1, atomic_load(&o.failed));
    assert_int_equal(1, atomic_load(&o.attempts_on_failure));
    assert_string_equal("ResourceNotFoundException", o.last_code);

    /* a refused lease check: reported NOT_MARKED with its reason, nothing sent */
    memset(&o, 0, sizeof o);
    s.may_send = tm_refuse;
    m = marker_start(&s, &l.cfg, &err);
    assert_non_null(m);
    assert_int_equal(0, marker_submit(m, &one, &err));
    marker_finish(m);
    assert_int_equal(1, atomic_load(&o.not_marked));
    assert_string_equal("LeaseExpired", o.last_code);

    /* closed with nothing submitted: ends at once */
    m = marker_start(&s, &l.cfg, &err);
    assert_non_null(m);
    marker_close(m);
    marker_finish(m);
    live_close(&l);   /* every marker finished, every client freed */
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(marks_each_record_once_within_capacity),
        cmocka_unit_test(reports_failures_and_refusals),
    };
    int failed = cmocka_run_group_tests_name("marker", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
