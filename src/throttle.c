#include "throttle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retry.h"

/* The adaptive constants of the SDKs' adaptive retry mode. */
#define THROTTLE_SMOOTH 0.8          /* weight of the newest sending-rate sample */
#define THROTTLE_BETA 0.7            /* rate kept after a throttle */
#define THROTTLE_SCALE 0.4           /* CUBIC's C */
#define THROTTLE_MIN_RATE 0.5        /* requests/s, the floor */
#define THROTTLE_RATE_BUCKET_S 0.5   /* the sending rate is measured per half second */

static double throttle_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps for s seconds (fractions kept). */
static void throttle_sleep_s(double s)
{
    if (s <= 0) return;
    int ms = (int)ceil(s * 1000);
    retry_sleep_ms(ms > 0 ? ms : 1);
}

/* Takes a token from (tokens, rate, capacity) refilled since *last; returns
 * how long the caller must wait for it (the token is reserved: tokens may go
 * below zero, so waiting callers queue up instead of racing). */
static double throttle_take(double *tokens, double *last, double rate, double capacity, double now)
{
    *tokens += (now - *last) * rate;
    if (*tokens > capacity)
        *tokens = capacity;
    *last = now;
    *tokens -= 1;
    return *tokens >= 0 ? 0 : -*tokens / rate;
}

/* --- a fixed-rate bucket --- */

int throttle_bucket_init(throttle_bucket *b, double rate)
{
    memset(b, 0, sizeof *b);
    if (pthread_mutex_init(&b->lock, NULL) != 0)
        return -1;
    b->rate = rate;
    b->tokens = 1;
    b->last_s = throttle_now_s();
    return 0;
}

void throttle_bucket_destroy(throttle_bucket *b)
{
    pthread_mutex_destroy(&b->lock);
}

void throttle_bucket_acquire(throttle_bucket *b)
{
    pthread_mutex_lock(&b->lock);
    double wait = throttle_take(&b->tokens, &b->last_s, b->rate, b->rate > 1 ? b->rate : 1, throttle_now_s());
    pthread_mutex_unlock(&b->lock);
    throttle_sleep_s(wait);
}

/* --- the shared throttle --- */

throttle *throttle_new(throttle_mode mode)
{
    throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    t->mode = mode;
    t->quota = THROTTLE_QUOTA;
    double now = throttle_now_s();
    t->last_fill_s = t->last_throttle_s = now;
    t->rate_bucket_s = floor(now / THROTTLE_RATE_BUCKET_S) * THROTTLE_RATE_BUCKET_S;
    t->fill_rate = t->capacity = THROTTLE_MIN_RATE;
    return t;
}

void throttle_free(throttle *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int throttle_mode_parse(const char *text, throttle_mode *mode)
{
    if (strcmp(text, "standard") == 0)
        *mode = THROTTLE_STANDARD;
    else if (strcmp(text, "adaptive") == 0)
        *mode = THROTTLE_ADAPTIVE;
    else
        return -1;
    return 0;
}

const char *throttle_mode_name(throttle_mode mode)
{
    return mode == THROTTLE_ADAPTIVE ? "adaptive" : "standard";
}

double throttle_before_send(throttle *t)
{
    if (!t || t->mode != THROTTLE_ADAPTIVE) return 0;
    pthread_mutex_lock(&t->lock);
    double wait = 0;
    if (t->limiting)
        wait = throttle_take(&t->tokens, &t->last_fill_s, t->fill_rate, t->capacity, throttle_now_s());
    pthread_mutex_unlock(&t->lock);
    throttle_sleep_s(wait);
    return throttle_now_s();
}

double throttle_cubic_rate(double last_max, double time_window, double t_s)
{
    double x = t_s - time_window;
    return THROTTLE_SCALE * x * x * x + last_max;
}

/* The sending rate, smoothed over half-second buckets. Lock held. */
static void throttle_measure(throttle *t, double now)
{
    double bucket = floor(now / THROTTLE_RATE_BUCKET_S) * THROTTLE_RATE_BUCKET_S;
    t->bucket_count++;
    if (bucket > t->rate_bucket_s) {
        double sample = t->bucket_count / (bucket - t->rate_bucket_s);
        t->measured_rate = t->measured_rate > 0 ? sample * THROTTLE_SMOOTH + t->measured_rate * (1 - THROTTLE_SMOOTH)
                                                : sample;
        t->bucket_count = 0;
        t->rate_bucket_s = bucket;
    }
}

void throttle_after_response(throttle *t, int throttled, double sent_s)
{
    if (!t || t->mode != THROTTLE_ADAPTIVE) return;
    pthread_mutex_lock(&t->lock);
    double now = throttle_now_s(), rate;
    throttle_measure(t, now);
    /* One cut per burst, as TCP cuts once per round trip: the requests sent
     * before the cut, or queued just after it, say nothing about the new rate. */
    if (throttled && t->limiting && sent_s < t->last_throttle_s + THROTTLE_RATE_BUCKET_S)
        throttled = 0;
    if (throttled) {
        double measured = t->measured_rate > 0 ? t->measured_rate
                                               : t->bucket_count / (now - t->rate_bucket_s + 1e-3);   /* first half second */
        double base = t->limiting && t->fill_rate < measured ? t->fill_rate : measured;
        if (base < THROTTLE_MIN_RATE)
            base = THROTTLE_MIN_RATE;
        t->last_max_rate = base;
        t->time_window = cbrt(base * (1 - THROTTLE_BETA) / THROTTLE_SCALE);
        t->last_throttle_s = now;
        t->limiting = 1;
        rate = base * THROTTLE_BETA;
    } else {
        rate = throttle_cubic_rate(t->last_max_rate, t->time_window, now - t->last_throttle_s);
    }
    /* growth past the last good rate only as far as demand shows it is
     * needed; never below it for lack of demand (a quiet spell is no signal) */
    double demand = 2 * t->measured_rate > t->last_max_rate ? 2 * t->measured_rate : t->last_max_rate;
    if (!throttled && rate > demand)
        rate = demand;
    if (rate < THROTTLE_MIN_RATE)
        rate = THROTTLE_MIN_RATE;
    /* refill at the old rate up to now before the new rate applies */
    t->tokens += (now - t->last_fill_s) * t->fill_rate;
    t->last_fill_s = now;
    t->fill_rate = rate;
    t->capacity = rate > 1 ? rate : 1;
    if (t->tokens > t->capacity)
        t->tokens = t->capacity;
    pthread_mutex_unlock(&t->lock);
}

int throttle_take_retry(throttle *t, int timeout)
{
    int cost = timeout ? THROTTLE_TIMEOUT_COST : THROTTLE_RETRY_COST;
    if (!t) return cost;
    pthread_mutex_lock(&t->lock);
    int paid = t->quota >= cost;
    if (paid)
        t->quota -= cost;
    pthread_mutex_unlock(&t->lock);
    return paid ? cost : 0;
}

void throttle_success(throttle *t, int retry_cost)
{
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->quota += retry_cost > 0 ? retry_cost : THROTTLE_NO_RETRY_REFUND;
    if (t->quota > THROTTLE_QUOTA)
        t->quota = THROTTLE_QUOTA;
    pthread_mutex_unlock(&t->lock);
}

int throttle_quota(throttle *t)
{
    if (!t) return THROTTLE_QUOTA;
    pthread_mutex_lock(&t->lock);
    int q = t->quota;
    pthread_mutex_unlock(&t->lock);
    return q;
}
