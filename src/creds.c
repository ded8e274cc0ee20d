#include "creds.h"
#include "creds_chain.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

/* Credentials are refreshed this long before they expire, or half their
 * lifetime when that is shorter, and no request is signed within
 * CREDS_MARGIN_MAX_MS (or a tenth of the lifetime) of the expiry, so it
 * reaches AWS before the credentials run out. */
#define CREDS_REFRESH_AHEAD_MS (5 * 60 * 1000LL)
#define CREDS_MARGIN_MAX_MS (10 * 1000LL)
/* After a failed refresh with valid credentials left: wait this long (or a
 * quarter of what is left) before the next try. */
#define CREDS_RETRY_MS 1000LL

struct creds_cache {
    pthread_mutex_t lock;    /* guards every field below but env and next */
    pthread_cond_t flight_done;
    creds_env env;           /* immutable after creation */
    struct creds_cache *next;   /* registry list; guarded by the registry lock */
    creds_value value;
    int have;
    unsigned long generation;
    long long refresh_at_ms, usable_until_ms, retry_at_ms;
    long long clock_offset_ms;
    int refreshing;          /* a fetch is running (on some thread, unlocked) */
    unsigned long flights;   /* fetches finished */
    int last_failed;
    char last_error[CREDS_ERROR_SIZE];
    int source_index;        /* the chain link that answered last, -1 before */
    char source[CREDS_SOURCE_SIZE];
    creds_session session;   /* only the refreshing thread touches it */
};

/* The caches by settings, so that every client of the program built from the
 * same settings finds the same cache. */
struct creds_registry {
    pthread_mutex_t lock;    /* guards head (the list links) */
    creds_cache *head;
};

static const char *const CREDS_VARIABLES[] = {
    "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "HOME",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_EC2_METADATA_V1_DISABLED", "AWS_METADATA_SERVICE_TIMEOUT",
    "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
    "DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S",
};

/* --- the settings snapshot --- */

static int creds_env_add(creds_env *e, const char *name, const char *value)
{
    size_t add = strlen(name) + 1 + strlen(value) + 1;
    char *bigger = realloc(e->text, e->len + add);
    if (!bigger) return -1;
    e->text = bigger;
    snprintf(e->text + e->len, add, "%s=%s", name, value);
    e->len += add;
    return 0;
}

/* The profile's setting key as the variable name when the environment does
 * not set it (the environment wins, as in the SDKs). A file the chain cannot
 * read is reported by config.c and by the chain, not here. */
static int creds_env_profile_flag(creds_env *e, const char *name, const char *key)
{
    char value[16], ignored[CREDS_ERROR_SIZE];
    if (creds_env_get(e, name)) return 0;
    if (creds_profile_setting(key, value, sizeof value, ignored, sizeof ignored) != 1) return 0;
    return creds_env_add(e, name, value);
}

int creds_env_capture(creds_env *e, const char *region, const char *ca_bundle)
{
    e->text = NULL;
    e->len = 0;
    for (size_t i = 0; i < sizeof CREDS_VARIABLES / sizeof *CREDS_VARIABLES; i++) {
        const char *v = getenv(CREDS_VARIABLES[i]);
        if (v && *v && creds_env_add(e, CREDS_VARIABLES[i], v) != 0) goto fail;
    }
    if (creds_env_profile_flag(e, "AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint") != 0 ||
        creds_env_profile_flag(e, "AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint") != 0)
        goto fail;
    if (creds_env_add(e, "ddbrun.region", region) != 0 || creds_env_add(e, "ddbrun.ca_bundle", ca_bundle) != 0)
        goto fail;
    return 0;
fail:
    creds_env_free(e);
    return -1;
}

const char *creds_env_get(const creds_env *e, const char *name)
{
    size_t n = strlen(name);
    for (size_t at = 0; at < e->len; at += strlen(e->text + at) + 1) {
        const char *entry = e->text + at;
        if (strncmp(entry, name, n) == 0 && entry[n] == '=') return entry[n + 1] ? entry + n + 1 : NULL;
    }
    return NULL;
}

int creds_env_true(const creds_env *e, const char *name)
{
    const char *v = creds_env_get(e, name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

void creds_env_free(creds_env *e)
{
    if (e->text) OPENSSL_cleanse(e->text, e->len);
    free(e->text);
    e->text = NULL;
    e->len = 0;
}

void creds_value_clear(creds_value *v)
{
    OPENSSL_cleanse(v, sizeof *v);
}

/* --- time --- */

long long creds_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long creds_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's formula). */
static long long creds_days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static long long creds_epoch_ms(int y, int mo, int d, int h, int mi, int s)
{
    return ((creds_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400) + h * 3600LL + mi * 60LL + s) * 1000;
}

int creds_parse_time(const char *text, long long *ms)
{
    int y, mo, d, h, mi, s, used = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6 || used != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return -1;
    const char *p = text + used;
    long long frac = 0, scale = 1000;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            if (scale > 1) frac += (*p - '0') * (scale /= 10);
    long long offset_s = 0;
    if (*p == '+' || *p == '-') {
        int oh, om, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || p[1 + n] != '\0') return -1;
        offset_s = (oh * 3600LL + om * 60LL) * (*p == '+' ? 1 : -1);
    } else if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0) {
        return -1;
    }
    *ms = creds_epoch_ms(y, mo, d, h, mi, s) + frac - offset_s * 1000;
    return 0;
}

int creds_parse_http_date(const char *text, long long *ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    int d, y, h, mi, s;
    if (!text || sscanf(text, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &d, mon, &y, &h, &mi, &s) != 6) return -1;
    const char *at = strstr(months, mon);
    if (!at || strlen(mon) != 3 || (at - months) % 3) return -1;
    *ms = creds_epoch_ms(y, (int)(at - months) / 3 + 1, d, h, mi, s);
    return 0;
}

void creds_format_time(long long ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm)) out[0] = '\0';
}

/* --- JSON credentials --- */

static int creds_copy_field(const json_t *doc, const char *name, char *dst, size_t size, int required,
                            char *err, size_t errlen)
{
    const char *v = json_string_value(json_object_get(doc, name));
    if (!v || !*v) {
        if (required) snprintf(err, errlen, "the answer has no %s", name);
        dst[0] = '\0';
        return required ? -1 : 0;
    }
    if (strlen(v) >= size) {
        snprintf(err, errlen, "%s is too long", name);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

int creds_from_json(const json_t *doc, const char *token_field, creds_value *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "the answer is not a JSON object");
        return -1;
    }
    if (creds_copy_field(doc, "AccessKeyId", out->access_key, sizeof out->access_key, 1, err, errlen) ||
        creds_copy_field(doc, "SecretAccessKey", out->secret_key, sizeof out->secret_key, 1, err, errlen) ||
        creds_copy_field(doc, token_field, out->session_token, sizeof out->session_token, 0, err, errlen))
        goto fail;
    const json_t *exp = json_object_get(doc, "Expiration");
    if (exp && !json_is_null(exp) && creds_parse_time(json_string_value(exp), &out->expiration_ms) != 0) {
        snprintf(err, errlen, "Expiration is not an ISO 8601 time");
        goto fail;
    }
    return 0;
fail:
    creds_value_clear(out);
    return -1;
}

/* --- the cache --- */

static creds_cache *creds_cache_new(creds_env *env)
{
    creds_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->lock, NULL) != 0) goto fail;
    if (pthread_cond_init(&c->flight_done, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        goto fail;
    }
    c->env = *env;
    c->source_index = -1;
    return c;
fail:
    free(c);
    return NULL;
}

static void creds_cache_free(creds_cache *c)
{
    creds_env_free(&c->env);
    creds_value_clear(&c->value);
    OPENSSL_cleanse(&c->session, sizeof c->session);
    pthread_cond_destroy(&c->flight_done);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

creds_registry *creds_registry_new(void)
{
    creds_registry *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void creds_registry_free(creds_registry *r)
{
    if (!r) return;
    for (creds_cache *c = r->head, *next; c; c = next) {
        next = c->next;
        creds_cache_free(c);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

creds_cache *creds_cache_shared(creds_registry *r, const char *region, const char *ca_bundle,
                                char *err, size_t errlen)
{
    creds_env env;
    if (creds_env_capture(&env, region, ca_bundle) != 0) {
        snprintf(err, errlen, "out of memory reading the credential settings");
        return NULL;
    }
    pthread_mutex_lock(&r->lock);
    creds_cache *c = r->head;
    while (c && !(c->env.len == env.len && memcmp(c->env.text, env.text, env.len) == 0)) c = c->next;
    if (c) {
        creds_env_free(&env);
    } else if ((c = creds_cache_new(&env)) != NULL) {
        c->next = r->head;
        r->head = c;
    } else {
        creds_env_free(&env);
        snprintf(err, errlen, "out of memory creating the credential cache");
    }
    pthread_mutex_unlock(&r->lock);
    return c;
}

void creds_cache_set_clock_offset_ms(creds_cache *c, long long offset_ms)
{
    pthread_mutex_lock(&c->lock);
    c->clock_offset_ms = offset_ms;
    pthread_mutex_unlock(&c->lock);
}

void creds_cache_describe(creds_cache *c, char *source, size_t size, long long *expiration_ms)
{
    pthread_mutex_lock(&c->lock);
    snprintf(source, size, "%s", c->have ? c->source : "");
    *expiration_ms = c->have ? c->value.expiration_ms : 0;
    pthread_mutex_unlock(&c->lock);
}

static long long creds_min(long long a, long long b)
{
    return a < b ? a : b;
}

/* Under the lock: takes fresh credentials, with their refresh times. */
static void creds_store(creds_cache *c, creds_value *v, const char *source, long long now)
{
    c->value = *v;
    c->have = 1;
    c->generation++;
    c->last_failed = 0;
    snprintf(c->source, sizeof c->source, "%s", source);
    if (v->expiration_ms) {
        long long life = v->expiration_ms - now;
        c->refresh_at_ms = v->expiration_ms - creds_min(CREDS_REFRESH_AHEAD_MS, life / 2);
        c->usable_until_ms = v->expiration_ms - creds_min(CREDS_MARGIN_MAX_MS, life / 10);
    }
}

/* Called with the lock held and c->refreshing set by the caller; asks the
 * chain without the lock, then stores the answer or the error. */
static void creds_refresh(creds_cache *c)
{
    int index = c->source_index;
    long long offset_before = c->clock_offset_ms;
    c->session.clock_offset_ms = offset_before;
    pthread_mutex_unlock(&c->lock);
    creds_value v;
    char source[CREDS_SOURCE_SIZE] = "", error[CREDS_ERROR_SIZE] = "";
    int rc = creds_chain_fetch(&c->env, &c->session, &index, &v, source, sizeof source, error, sizeof error);
    pthread_mutex_lock(&c->lock);
    if (c->session.clock_offset_ms != offset_before) c->clock_offset_ms = c->session.clock_offset_ms;   /* STS corrected it */
    long long now = creds_wall_ms() + c->clock_offset_ms;
    if (rc == 0 && v.expiration_ms && v.expiration_ms - now <= 0) {
        char when[32];
        creds_format_time(v.expiration_ms, when);
        snprintf(error, sizeof error, "%s: the credentials it gave expired at %s (is the clock right?)", source, when);
        rc = -1;
    }
    if (rc == 0) {
        c->source_index = index;
        creds_store(c, &v, source, now);
    } else {
        c->last_failed = 1;
        snprintf(c->last_error, sizeof c->last_error, "%s", error);
        long long left = c->have ? c->usable_until_ms - now : 0;
        c->retry_at_ms = now + creds_min(CREDS_RETRY_MS, left > 0 ? left / 4 : 0);
    }
    creds_value_clear(&v);
    c->refreshing = 0;
    c->flights++;
    pthread_cond_broadcast(&c->flight_done);
}

static int creds_usable(const creds_cache *c, long long now)
{
    return c->have && (c->value.expiration_ms == 0 || now < c->usable_until_ms);
}

int creds_cache_get(creds_cache *c, creds_value *out, unsigned long *generation, long long *clock_offset_ms,
                    char *err, size_t errlen)
{
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    for (;;) {
        long long now = creds_wall_ms() + c->clock_offset_ms;
        if (creds_usable(c, now)) {
            int due = c->value.expiration_ms && now >= c->refresh_at_ms && now >= c->retry_at_ms;
            if (!due || c->refreshing) break;   /* others sign with these meanwhile */
        } else if (c->refreshing) {
            unsigned long target = c->flights + 1;
            while (c->flights < target) pthread_cond_wait(&c->flight_done, &c->lock);
            if (!creds_usable(c, creds_wall_ms() + c->clock_offset_ms) && c->last_failed) {
                rc = -1;
                break;
            }
            continue;
        }
        c->refreshing = 1;
        creds_refresh(c);
        if (!creds_usable(c, creds_wall_ms() + c->clock_offset_ms)) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && *generation != c->generation) {
        *out = c->value;
        *generation = c->generation;
    } else if (rc != 0) {
        snprintf(err, errlen, "%s", c->last_failed ? c->last_error : "no valid credentials");
    }
    *clock_offset_ms = c->clock_offset_ms;
    pthread_mutex_unlock(&c->lock);
    return rc;
}
