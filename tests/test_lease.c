/* The portion leases (src/lease.c) against the DynamoDB Local that
 * tests/run.sh started: sharing, take-over after silence, the protocol item,
 * and the pure parts (portion hash, owner ids, old-protocol detection). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "live.h"
#include "lease.h"

#define LEASE_MS 900

static int portion_of(int portions, const char *account_id, const char *run_time)
{
    record_key key = { account_id, strlen(account_id), run_time, strlen(run_time) };
    return lease_portion_of(portions, &key);
}

static void portion_hash_is_stable_and_in_range(void **state)
{
    (void)state;
    /* FNV-1a 64 of "acct-001", 0xFF, "2026-01-01T00:00:00Z": documented in the README */
    /* 7739805885318256769 % 32 and % 1024 (computed independently) */
    assert_int_equal(1, portion_of(32, "acct-001", "2026-01-01T00:00:00Z"));
    assert_int_equal(129, portion_of(1024, "acct-001", "2026-01-01T00:00:00Z"));
    int counts[32] = { 0 };
    char acct[32];
    for (int i = 0; i < 3200; i++) {
        snprintf(acct, sizeof acct, "acct-%04d", i);
        int p = portion_of(32, acct, "2026-01-01T00:00:00Z");
        assert_true(p >= 0 && p < 32);
        counts[p]++;
    }
    for (int p = 0; p < 32; p++) assert_true(counts[p] > 50 && counts[p] < 150);
    /* the 0xFF byte keeps ("ab", "c") and ("a", "bc") apart */
    assert_int_not_equal(portion_of(1024, "ab", "c"), portion_of(1024, "a", "bc"));
}

static void owner_ids_have_128_random_bits(void **state)
{
    (void)state;
    char a[33], b[33];
    assert_int_equal(0, lease_random_id(a, sizeof a));
    assert_int_equal(0, lease_random_id(b, sizeof b));
    assert_int_equal(32, strlen(a));
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
}

static void old_protocol_items_are_named(void **state)
{
    (void)state;
    char msg[600];
    json_t *old = json_pack("{s:{s:s},s:{s:s},s:{s:s}}", "AccountId", "S", "A1", "RunTime", "S",
                            "2026-01-01T00:00:00Z", "LeaseOwner", "S", "host/1/abcd");
    json_t *plain = json_pack("{s:{s:s},s:{s:s}}", "AccountId", "S", "A1", "RunTime", "S", "2026-01-01T00:00:00Z");
    assert_int_equal(1, lease_foreign_item(old, "Records", msg, sizeof msg));
    assert_non_null(strstr(msg, "table Records: record (A1, 2026-01-01T00:00:00Z) carries a per-record lease"));
    assert_int_equal(0, lease_foreign_item(plain, "Records", msg, sizeof msg));
    json_decref(old);
    json_decref(plain);
}

typedef struct fixture {
    live l;
    record_table t;
} fixture;

static int setup(void **state)
{
    if (!getenv("DDB_TEST_ENDPOINT")) return 0;
    fixture *f = calloc(1, sizeof *f);
    ddb_error err;
    if (!f || live_init(&f->l) != 0)
        return -1;
    snprintf(f->t.table, sizeof f->t.table, "clease_%ld_%d_%d", (long)time(NULL), (int)getpid(), rand());
    snprintf(f->t.index, sizeof f->t.index, "Processed");
    json_t *create = json_pack("{s:s,s:s,s:[{s:s,s:s},{s:s,s:s}],s:[{s:s,s:s},{s:s,s:s}]}", "TableName", f->t.table,
                               "BillingMode", "PAY_PER_REQUEST", "AttributeDefinitions", "AttributeName", "AccountId",
                               "AttributeType", "S", "AttributeName", "RunTime", "AttributeType", "S", "KeySchema",
                               "AttributeName", "AccountId", "KeyType", "HASH", "AttributeName", "RunTime", "KeyType",
                               "RANGE");
    int rc = ddb_client_call_json(f->l.admin, "CreateTable", create, NULL, NULL, &err);
    json_decref(create);
    *state = f;
    return rc;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f) return 0;
    ddb_error err;
    json_t *drop = json_pack("{s:s}", "TableName", f->t.table);
    ddb_client_call_json(f->l.admin, "DeleteTable", drop, NULL, NULL, &err);
    json_decref(drop);
    live_close(&f->l);
    free(f);
    return 0;
}

/* Waits (at most 60 s) until a holds `want` portions. */
static int wait_held(lease_set *a, int want)
{
    for (int i = 0; i < 600 && lease_held_count(a) != want; i++) lease_wait_ticks(a, 1, NULL);
    return lease_held_count(a);
}

static int valid_in_both(lease_set *a, lease_set *b)
{
    long long token;
    int both = 0;
    for (int p = 0; p < lease_portions(a); p++) {
        int in_a = lease_begin(a, p, &token);
        int in_b = lease_begin(b, p, &token);
        both += in_a && in_b;
    }
    return both;
}

static void two_processes_share_then_one_takes_over(void **state)
{
    fixture *f = *state;
    if (!f) skip();
    ddb_error err;
    lease_set *a = lease_start(&f->l.cfg, &f->t, LEASE_MS, &err);
    assert_non_null(a);
    assert_int_equal(LEASE_DEFAULT_PORTIONS, lease_portions(a));
    assert_int_equal(32, wait_held(a, 32));
    lease_set *b = lease_start(&f->l.cfg, &f->t, LEASE_MS, &err);
    assert_non_null(b);
    assert_string_not_equal(lease_owner(a), lease_owner(b));
    for (int i = 0; i < 600 && !(lease_held_count(a) == 16 && lease_held_count(b) == 16); i++) {
        assert_int_equal(0, valid_in_both(a, b));
        lease_wait_ticks(b, 1, NULL);
    }
    assert_int_equal(16, lease_held_count(a));
    assert_int_equal(16, lease_held_count(b));
    long long token_before;
    int mine = -1;
    for (int p = 0; p < 32 && mine < 0; p++)
        if (lease_begin(a, p, &token_before)) mine = p;
    assert_true(mine >= 0);
    /* a dies without a word: b waits for lease_ms of silence, then takes its
     * share. No bound on the elapsed time is asserted: a's last heartbeat may
     * precede the abandon by any stall of a busy box. Safety while both were
     * alive is what valid_in_both checked above. */
    lease_abandon(a);
    assert_int_equal(32, wait_held(b, 32));
    long long token_after;
    for (int i = 0; i < 100 && !lease_begin(b, mine, &token_after); i++) lease_wait_ticks(b, 1, NULL);
    assert_true(lease_begin(b, mine, &token_after));
    assert_true(token_after > token_before);
    lease_stats s;
    lease_get_stats(b, &s);
    assert_true(s.takeovers >= 16);
    assert_true(s.wcu > 0 && s.rcu > 0);
    lease_stop(b);
}

static void a_newer_protocol_is_refused(void **state)
{
    fixture *f = *state;
    if (!f) skip();
    ddb_error err;
    record_table t = f->t;
    json_t *put = json_pack("{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}", "TableName", t.table, "Item", "AccountId",
                            "S", LEASE_ACCOUNT, "RunTime", "S", "protocol", "Version", "N", "3", "Portions", "N", "8");
    assert_int_equal(0, ddb_client_call_json(f->l.admin, "PutItem", put, NULL, NULL, &err));
    json_decref(put);
    assert_null(lease_start(&f->l.cfg, &t, LEASE_MS, &err));
    assert_string_equal("ProtocolMismatch", err.code);
    assert_non_null(strstr(err.message, "is coordinated with ddbrun lease protocol 3 (8 portions); this ddbrun "
                                        "speaks protocol 2: run the same ddbrun version on every machine"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srand((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(portion_hash_is_stable_and_in_range),
        cmocka_unit_test(owner_ids_have_128_random_bits),
        cmocka_unit_test(old_protocol_items_are_named),
        cmocka_unit_test_setup_teardown(two_processes_share_then_one_takes_over, setup, teardown),
        cmocka_unit_test_setup_teardown(a_newer_protocol_is_refused, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("lease", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
