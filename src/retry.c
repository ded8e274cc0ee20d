#include "retry.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

retry_policy retry_default_policy(void)
{
    retry_policy p = { RETRY_DEFAULT_MAX_ATTEMPTS, RETRY_DEFAULT_BASE_MS,
                       RETRY_DEFAULT_MULTIPLIER, RETRY_DEFAULT_CAP_MS };
    return p;
}

static const char *const THROTTLE_CODES[] = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException",
    "TooManyRequestsException", "ThrottledException", "LimitExceededException",
};

/* Retryable besides the throttle codes. */
static const char *const TRANSIENT_CODES[] = {
    "InternalServerError", "InternalFailure", "ServiceUnavailable",
    "TransactionInProgressException",
    /* transport codes the client produces itself */
    "ConnectionError", "ConnectionReset", "TimeoutError", "ChecksumMismatch",
    "InvalidResponse",
};

static bool retry_code_in(const char *code, const char *const *codes, size_t count)
{
    for (size_t i = 0; code && i < count; i++)
        if (strcmp(code, codes[i]) == 0) return true;
    return false;
}

bool retry_is_throttle(const char *code)
{
    return retry_code_in(code, THROTTLE_CODES, sizeof THROTTLE_CODES / sizeof *THROTTLE_CODES);
}

bool retry_is_retryable(const char *code, long http_status)
{
    return http_status >= 500 || retry_is_throttle(code) ||
           retry_code_in(code, TRANSIENT_CODES, sizeof TRANSIENT_CODES / sizeof *TRANSIENT_CODES);
}

int retry_ceiling_ms(const retry_policy *p, int attempt)
{
    double ceiling = p->base_ms;
    for (int i = 1; i < attempt && ceiling < p->cap_ms; i++) ceiling *= p->multiplier;
    return ceiling > p->cap_ms ? p->cap_ms : (int)ceiling;
}

/* xorshift64*: small, fast, and good enough for spreading waits. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int retry_delay_ms(const retry_policy *p, int attempt, uint64_t *rng)
{
    int ceiling = retry_ceiling_ms(p, attempt);
    return ceiling <= 0 ? 0 : (int)(next_random(rng) % ((uint64_t)ceiling + 1));
}

uint64_t retry_seed(const void *salt)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)salt
                  ^ ((uint64_t)getpid() << 16);
    return seed ? seed : 1;
}

void retry_sleep_ms(int ms)
{
    struct timespec left = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {}
}
