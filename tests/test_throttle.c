/* The shared retry quota, the adaptive limiter's CUBIC curve, the shard hash
 * and the layout read from a DescribeTable answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "record_layout.h"
#include "throttle.h"

static void quota_pays_retries_and_refunds(void **state)
{
    (void)state;
    throttle *t = throttle_new(THROTTLE_STANDARD);
    assert_non_null(t);
    assert_int_equal(500, throttle_quota(t));
    assert_int_equal(5, throttle_take_retry(t, 0));
    assert_int_equal(10, throttle_take_retry(t, 1));
    assert_int_equal(485, throttle_quota(t));
    throttle_success(t, 15);             /* a success refunds what its retries cost */
    assert_int_equal(500, throttle_quota(t));
    throttle_success(t, 0);              /* never above the bucket */
    assert_int_equal(500, throttle_quota(t));
    for (int i = 0; i < 100; i++) assert_int_equal(5, throttle_take_retry(t, 0));
    assert_int_equal(0, throttle_take_retry(t, 0));   /* empty: fail fast */
    throttle_success(t, 0);              /* a success without retries gives 1 back */
    assert_int_equal(1, throttle_quota(t));
    assert_int_equal(0, throttle_take_retry(t, 0));
    throttle_free(t);
}

static void cubic_recovers_to_the_last_rate_after_the_window(void **state)
{
    (void)state;
    /* W = cbrt(last_max * (1 - 0.7) / 0.4): the rate is back at last_max then */
    double w = 5.0;   /* last_max 166.67 */
    assert_true(throttle_cubic_rate(166.67, w, w) > 166.6 && throttle_cubic_rate(166.67, w, w) < 166.7);
    assert_true(throttle_cubic_rate(166.67, w, 0) < 166.67 * 0.71);
    assert_true(throttle_cubic_rate(166.67, w, 2 * w) > 166.67 * 1.29);
}

static void shard_hash_is_fnv1a_over_both_keys(void **state)
{
    (void)state;
    /* FNV-1a 64 of "" + 0xFF + "" */
    uint64_t h = (0xcbf29ce484222325ull ^ 0xffu) * 0x100000001b3ull;
    assert_true(record_shard_hash("", 0, "", 0) == h);
    assert_int_equal(3, record_shard_of("ACC12345", 8, "2026-02-17T12:00:00Z", 20, 16));
    assert_true(record_shard_hash("a\0b", 3, "x", 1) != record_shard_hash("a", 1, "x", 1));
    assert_true(record_shard_hash("ab", 2, "c", 1) != record_shard_hash("a", 1, "bc", 2));
    assert_int_equal(0, record_shard_of("a", 1, "b", 1, 1));
}

static json_t *table_with(const char *gsis)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"TableName\":\"R\",\"GlobalSecondaryIndexes\":%s}", gsis);
    json_t *t = json_loads(text, 0, NULL);
    assert_non_null(t);
    return t;
}

#define SEED_GSI(name) "{\"IndexName\":\"" name "\",\"IndexStatus\":\"ACTIVE\",\"KeySchema\":[" \
    "{\"AttributeName\":\"Processed\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"RunTime\",\"KeyType\":\"RANGE\"}]}"
#define SHARD_GSI(name, n, status) "{\"IndexName\":\"" name "\",\"IndexStatus\":\"" status "\",\"KeySchema\":[" \
    "{\"AttributeName\":\"Processed\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"Shard_" n "\",\"KeyType\":\"HASH\"}," \
    "{\"AttributeName\":\"RunTime\",\"KeyType\":\"RANGE\"}]}"

static void layout_from_description(void **state)
{
    (void)state;
    record_layout l;
    ddb_error err;
    record_layout_request req = { "R", "Processed", 0, -1 };
    json_t *t = table_with("[" SEED_GSI("Processed") "]");
    assert_int_equal(0, record_layout_from_description(&req, t, &l, &err));
    assert_int_equal(0, l.shards);
    assert_int_equal(0, l.write_count);
    json_decref(t);

    /* mid-migration: the old index is read, writers stamp the new one */
    t = table_with("[" SEED_GSI("Processed") "," SHARD_GSI("Processed_sharded16", "16", "CREATING") "]");
    assert_int_equal(0, record_layout_from_description(&req, t, &l, &err));
    assert_string_equal("Processed", l.index);
    assert_int_equal(1, l.write_count);
    assert_int_equal(16, l.write_shards[0]);
    json_decref(t);

    /* switched: found under its other name */
    t = table_with("[" SHARD_GSI("Processed_sharded16", "16", "ACTIVE") "]");
    assert_int_equal(0, record_layout_from_description(&req, t, &l, &err));
    assert_string_equal("Processed_sharded16", l.index);
    assert_string_equal("Shard_16", l.shard_attr);
    req.shards = 8;
    assert_int_equal(-1, record_layout_from_description(&req, t, &l, &err));
    assert_string_equal("LayoutError", err.code);
    assert_string_equal("RECORDS_SHARDS is 8 but index Processed_sharded16 of table R has 16 shards", err.message);
    req.shards = -1;
    req.index_explicit = 1;
    assert_int_equal(-1, record_layout_from_description(&req, t, &l, &err));
    assert_string_equal("table R has no index Processed (its indexes: Processed_sharded16); "
                        "run ddbrun scripts/create_tables.lua or set RECORDS_INDEX", err.message);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quota_pays_retries_and_refunds),
        cmocka_unit_test(cubic_recovers_to_the_last_rate_after_the_window),
        cmocka_unit_test(shard_hash_is_fnv1a_over_both_keys),
        cmocka_unit_test(layout_from_description),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
