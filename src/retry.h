/* Which DynamoDB errors are worth retrying, and how long to wait between
 * attempts (exponential back-off with full jitter, as the AWS SDKs' standard
 * retry mode does). No Lua, no global state: the caller owns the RNG state. */
#ifndef DDBRUN_RETRY_H
#define DDBRUN_RETRY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct retry_policy {
    long max_attempts;   /* total attempts, at least 1 */
    long base_ms;        /* the first back-off ceiling */
    double multiplier;   /* ceiling grows by this factor per attempt */
    long cap_ms;         /* no single wait is longer than this */
} retry_policy;

#define RETRY_DEFAULT_MAX_ATTEMPTS 3
#define RETRY_DEFAULT_BASE_MS 50
#define RETRY_DEFAULT_MULTIPLIER 2.0
#define RETRY_DEFAULT_CAP_MS 20000

/* The SDK defaults: 3 attempts, 50 ms base, x2, capped at 20 s. */
retry_policy retry_default_policy(void);

/* True for throttling and transient errors: the throttling codes, internal
 * server errors, any 5xx, and transport failures (reset, timeout, CRC32
 * mismatch, refused connection). Never for validation or condition errors. */
bool retry_is_retryable(const char *code, long http_status);

/* True for the codes that mean "slow down" (throttling, not failures). */
bool retry_is_throttle(const char *code);

/* The ceiling before attempt `attempt + 1` (attempt >= 1 attempts made):
 * min(cap, base * multiplier^(attempt-1)). */
int retry_ceiling_ms(const retry_policy *p, int attempt);

/* A wait uniformly drawn from [0, ceiling] ("full jitter"). */
int retry_delay_ms(const retry_policy *p, int attempt, uint64_t *rng);

/* Seeds an RNG state so that concurrent clients do not wait in lockstep. */
uint64_t retry_seed(const void *salt);

/* Sleeps for ms milliseconds (resuming after signals). */
void retry_sleep_ms(int ms);

#endif
