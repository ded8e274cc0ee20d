/* Good manners under throttling, as the AWS SDKs' retry modes do it, shared
 * by every client (and so every thread) built from one configuration:
 *
 *  - the retry quota (standard and adaptive): a bucket of 500 tokens; a retry
 *    costs 5, or 10 after a timeout; a success refunds what its retries cost,
 *    or 1 when it needed none; with too few tokens a failure is returned at
 *    once instead of retried ("fail fast" rather than piling on);
 *  - adaptive mode adds a client-side rate limiter: off until the first
 *    throttle, then a token bucket whose rate drops to 70% of the measured
 *    sending rate at each throttle and grows back along a CUBIC curve;
 *  - a fixed cap (throttle_bucket alone) for max_requests_per_s.
 *
 * Ownership: the creator owns a throttle and frees it after every client
 * using it is gone; configs and clients hold borrowed pointers.
 * Lock: `lock` guards every field of a throttle (and of a bucket), held only
 * for arithmetic, never while sending or sleeping. No Lua. */
#ifndef DDBRUN_THROTTLE_H
#define DDBRUN_THROTTLE_H

#include <pthread.h>

typedef enum { THROTTLE_STANDARD = 0, THROTTLE_ADAPTIVE = 1 } throttle_mode;

#define THROTTLE_QUOTA 500
#define THROTTLE_RETRY_COST 5
#define THROTTLE_TIMEOUT_COST 10
#define THROTTLE_NO_RETRY_REFUND 1

/* A token bucket of `rate` tokens per second holding at most max(rate, 1). */
typedef struct throttle_bucket {
    pthread_mutex_t lock;
    double rate;
    double tokens;
    double last_s;        /* when tokens were last refilled (monotonic seconds) */
} throttle_bucket;

/* rate > 0. Returns 0 or -1 (the mutex could not be made). */
int throttle_bucket_init(throttle_bucket *b, double rate);
void throttle_bucket_destroy(throttle_bucket *b);
/* Takes one token, sleeping until there is one. */
void throttle_bucket_acquire(throttle_bucket *b);

typedef struct throttle {
    pthread_mutex_t lock;
    throttle_mode mode;
    int quota;                     /* retry tokens left, 0..THROTTLE_QUOTA */
    /* adaptive mode */
    int limiting;                  /* the limiter is on (after the first throttle) */
    double fill_rate, capacity, tokens, last_fill_s;
    double measured_rate, rate_bucket_s;
    long bucket_count;
    double last_max_rate, last_throttle_s, time_window;
} throttle;

/* Returns a new throttle (the caller owns it), or NULL when out of memory. */
throttle *throttle_new(throttle_mode mode);
void throttle_free(throttle *t);

/* "standard" / "adaptive" -> 0 with *mode set, else -1. */
int throttle_mode_parse(const char *text, throttle_mode *mode);
const char *throttle_mode_name(throttle_mode mode);

/* Before each attempt: in adaptive mode, waits for the limiter's token.
 * Returns the send time to hand to throttle_after_response. */
double throttle_before_send(throttle *t);
/* After each attempt's answer: feeds the adaptive rate (throttled: 1 when
 * DynamoDB answered with a throttling error). A throttle of a request sent
 * before the last cut does not cut again. */
void throttle_after_response(throttle *t, int throttled, double sent_s);
/* Before a retry: takes its cost from the quota (timeout: 1 after a
 * timeout). Returns the cost taken, or 0 when the quota cannot pay it. */
int throttle_take_retry(throttle *t, int timeout);
/* After a success: refunds retry_cost, or THROTTLE_NO_RETRY_REFUND when 0. */
void throttle_success(throttle *t, int retry_cost);
/* Tokens left in the quota (for tests and info()). */
int throttle_quota(throttle *t);

/* The CUBIC step, exposed for the unit test: the rate t_s seconds after a
 * throttle that found the rate at last_max. */
double throttle_cubic_rate(double last_max, double time_window, double t_s);

#endif
