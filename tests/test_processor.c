/* The engine without Lua and without signals: a host stops a run through
 * processor_request_stop and watches it through the progress hook, against
 * the DynamoDB Local that tests/run.sh started. This is how coordination
 * (lease loss, drain) is meant to drive it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "live.h"
#include "processor.h"

#define RECORDS 40

typedef struct fixture {
    live l;
    processor_options o;
} fixture;

typedef struct host {
    processor *p;
    atomic_int calls;
    atomic_int progress_calls;
    long stop_after;              /* request a stop in the callback run number N, 0: never */
} host;

static void create_records(fixture *f)
{
    ddb_error err;
    json_t *create = json_pack(
        "{s:s, s:s, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}], s:[{s:s,s:s},{s:s,s:s}],"
        " s:[{s:s, s:[{s:s,s:s},{s:s,s:s}], s:{s:s}}]}",
        "TableName", f->o.table.table, "BillingMode", "PAY_PER_REQUEST",
        "AttributeDefinitions", "AttributeName", "AccountId", "AttributeType", "S",
        "AttributeName", "RunTime", "AttributeType", "S", "AttributeName", "Processed", "AttributeType", "N",
        "KeySchema", "AttributeName", "AccountId", "KeyType", "HASH", "AttributeName", "RunTime", "KeyType", "RANGE",
        "GlobalSecondaryIndexes", "IndexName", "Processed",
        "KeySchema", "AttributeName", "Processed", "KeyType", "HASH", "AttributeName", "RunTime", "KeyType", "RANGE",
        "Projection", "ProjectionType", "ALL");
    assert_int_equal(0, ddb_client_call_json(f->l.admin, "CreateTable", create, NULL, NULL, &err));
    json_decref(create);
    for (int i = 0; i < RECORDS; i++) {
        char acct[32];
        char rt[32];
        snprintf(acct, sizeof acct, "acct-%02d", i % 7);
        snprintf(rt, sizeof rt, "2026-01-01T00:00:%02dZ", i);
        json_t *put = json_pack("{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}}", "TableName", f->o.table.table,
                                "Item", "AccountId", "S", acct, "RunTime", "S", rt, "Processed", "N", "0");
        assert_int_equal(0, ddb_client_call_json(f->l.admin, "PutItem", put, NULL, NULL, &err));
        json_decref(put);
    }
}

static int set_up(void **state)
{
    if (!getenv("DDB_TEST_ENDPOINT"))
        return 0;
    fixture *f = calloc(1, sizeof *f);
    char msg[512];
    if (!f || live_init(&f->l) != 0 || processor_options_from_env(&f->o, msg, sizeof msg) != 0)
        return -1;
    snprintf(f->o.table.table, sizeof f->o.table.table, "cproc_%ld_%d_%d", (long)time(NULL), (int)getpid(), rand());
    f->o.max_workers = 2;
    f->o.page_size = 10;
    create_records(f);
    *state = f;
    return 0;
}

static int tear_down(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    ddb_error err;
    json_t *drop = json_pack("{s:s}", "TableName", f->o.table.table);
    ddb_client_call_json(f->l.admin, "DeleteTable", drop, NULL, NULL, &err);
    json_decref(drop);
    live_close(&f->l);
    free(f);
    return 0;
}

/* The first callback waits (up to 30 s) until the host saw progress, so the
 * hook is called whatever the machine's speed; run number stop_after asks the
 * run to stop. */
static processor_callback_result on_record(void *data, int worker, const json_t *item, long long lease, char *msg,
                                           size_t msglen)
{
    (void)worker;
    (void)item;
    (void)lease;
    (void)msg;
    (void)msglen;
    host *h = data;
    int n = atomic_fetch_add(&h->calls, 1) + 1;
    struct timespec tick = { 0, 10 * 1000000L };
    for (int i = 0; n == 1 && i < 3000 && atomic_load(&h->progress_calls) == 0; i++)
        nanosleep(&tick, NULL);
    if (n == h->stop_after)
        processor_request_stop(h->p, PROCESSOR_STOP_HOST);
    return PROCESSOR_CALLBACK_OK;
}

static void on_progress(void *data, const processor_stats *s)
{
    host *h = data;
    assert_true(s->processed >= 0 && s->processed <= RECORDS);
    atomic_fetch_add(&h->progress_calls, 1);
}

static void a_stop_request_ends_the_run_without_signals(void **state)
{
    fixture *f = *state;
    if (!f)
        skip();
    host h = { .stop_after = 5 };
    void *data[2] = { &h, &h };
    processor_hooks hooks = { on_progress, &h, 1 };
    ddb_error err;
    h.p = processor_new(&f->o, &f->l.cfg, on_record, data, &hooks, &err);
    assert_non_null(h.p);
    assert_int_equal(PROCESSOR_STOP_NONE, processor_stop_requested(h.p));
    processor_result r;
    assert_int_equal(0, processor_run(h.p, &r, &err));
    assert_int_equal(PROCESSOR_STOP_HOST, r.stopped);
    assert_true(atomic_load(&h.progress_calls) >= 1);
    /* the callbacks in flight finished and were marked; no new one started */
    assert_int_equal(atomic_load(&h.calls), r.stats.processed);
    assert_true(r.stats.processed >= 5 && r.stats.processed <= 6);
    assert_int_equal(0, r.stats.failed);
    processor_result_free(&r);
    processor_free(h.p);
}

static void a_stop_requested_before_the_run_runs_nothing(void **state)
{
    fixture *f = *state;
    if (!f)
        skip();
    host h = { .stop_after = 0 };
    void *data[2] = { &h, &h };
    ddb_error err;
    h.p = processor_new(&f->o, &f->l.cfg, on_record, data, NULL, &err);
    assert_non_null(h.p);
    processor_request_stop(h.p, PROCESSOR_STOP_TERMINATE);
    processor_request_stop(h.p, PROCESSOR_STOP_INTERRUPT);   /* the first reason wins */
    processor_result r;
    assert_int_equal(0, processor_run(h.p, &r, &err));
    assert_int_equal(PROCESSOR_STOP_TERMINATE, r.stopped);
    assert_int_equal(0, atomic_load(&h.calls));
    assert_int_equal(0, r.stats.processed);
    processor_result_free(&r);
    assert_int_equal(-1, processor_run(h.p, &r, &err));   /* a processor runs once */
    processor_result_free(&r);
    processor_free(h.p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_stop_requested_before_the_run_runs_nothing, set_up, tear_down),
        cmocka_unit_test_setup_teardown(a_stop_request_ends_the_run_without_signals, set_up, tear_down),
    };
    int failed = cmocka_run_group_tests_name("processor", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
