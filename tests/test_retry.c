/* Retry classification and back-off bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "retry.h"

static void retryable_codes(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
        "InternalServerError", "ConnectionReset", "TimeoutError", "ChecksumMismatch", "ConnectionError",
    };
    static const char *const no[] = {
        "ValidationException", "ConditionalCheckFailedException", "ResourceNotFoundException",
        "AccessDeniedException", "UnrecognizedClientException", "TransactionCanceledException",
        "UnknownHost", "TlsError", "SerializationException",
    };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) assert_true(retry_is_retryable(yes[i], 400));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) assert_false(retry_is_retryable(no[i], 400));
}

static void any_5xx_is_retryable(void **state)
{
    (void)state;
    assert_true(retry_is_retryable("Whatever", 500));
    assert_true(retry_is_retryable(NULL, 503));
    assert_false(retry_is_retryable(NULL, 404));
    assert_false(retry_is_retryable(NULL, 0));
}

static void ceiling_grows_and_caps(void **state)
{
    (void)state;
    retry_policy p = { 10, 100, 2.0, 1000 };
    int expected[] = { 100, 200, 400, 800, 1000, 1000, 1000 };
    for (int a = 1; a <= 7; a++) assert_int_equal(expected[a - 1], retry_ceiling_ms(&p, a));
    retry_policy big = { 100, 50, 10.0, 20000 };
    assert_int_equal(20000, retry_ceiling_ms(&big, 90));   /* no overflow after many attempts */
}

static void full_jitter_stays_within_bounds(void **state)
{
    (void)state;
    retry_policy p = { 5, 100, 2.0, 20000 };
    uint64_t rng = retry_seed(&p);
    for (int attempt = 1; attempt <= 4; attempt++) {
        int ceiling = retry_ceiling_ms(&p, attempt), lo = ceiling, hi = 0;
        for (int i = 0; i < 5000; i++) {
            int d = retry_delay_ms(&p, attempt, &rng);
            assert_in_range(d, 0, ceiling);
            if (d < lo) lo = d;
            if (d > hi) hi = d;
        }
        /* spread over the whole range, not stuck at one end */
        assert_true(lo < ceiling / 10);
        assert_true(hi > ceiling * 9 / 10);
    }
}

static void zero_base_never_waits(void **state)
{
    (void)state;
    retry_policy p = { 3, 0, 2.0, 1000 };
    uint64_t rng = 1;
    assert_int_equal(0, retry_delay_ms(&p, 2, &rng));
}

static void defaults_match_the_sdk(void **state)
{
    (void)state;
    retry_policy p = retry_default_policy();
    assert_int_equal(3, p.max_attempts);
    assert_int_equal(50, p.base_ms);
    assert_int_equal(20000, p.cap_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retryable_codes),
        cmocka_unit_test(any_5xx_is_retryable),
        cmocka_unit_test(ceiling_grows_and_caps),
        cmocka_unit_test(full_jitter_stays_within_bounds),
        cmocka_unit_test(zero_base_never_waits),
        cmocka_unit_test(defaults_match_the_sdk),
    };
    return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
