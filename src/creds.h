/* AWS credentials: the provider chain behind one process-wide cache per set
 * of settings, so every client built from the same settings (all of a
 * processor's workers, every ddb.client() of a script) shares one set of
 * temporary credentials and one refresh.
 *
 * Ownership: the caches belong to a creds_registry, which main() creates once
 * (each C test creates its own), attaches to every Lua state (runtime.h) and
 * frees at exit, after every thread has been joined and every client freed
 * (clients and ddb_config hold plain pointers to caches).
 *
 * Threads: a creds_registry's list of caches is guarded by its own mutex
 * (creds_registry.lock in creds.c), held only to find or add a cache. A
 * creds_cache is shared by any number of threads; its fields are guarded by
 * its own mutex (creds_cache.lock), never held while a source is asked
 * (network, child process). One refresh runs at a time per cache; others keep
 * signing with the still-valid credentials meanwhile. */
#ifndef DDBRUN_CREDS_H
#define DDBRUN_CREDS_H

#include <stddef.h>

#define CREDS_KEY_SIZE 128
#define CREDS_SECRET_SIZE 128
#define CREDS_TOKEN_SIZE 4096
#define CREDS_SOURCE_SIZE 320
#define CREDS_ERROR_SIZE 768

typedef struct creds_value {
    char access_key[CREDS_KEY_SIZE];
    char secret_key[CREDS_SECRET_SIZE];
    char session_token[CREDS_TOKEN_SIZE];   /* "" for long-term keys */
    long long expiration_ms;                /* Unix ms; 0 = does not expire */
} creds_value;

/* The settings the chain reads, copied from the environment once (worker
 * threads never call getenv). Owns its text. */
typedef struct creds_env {
    char *text;     /* "NAME=value\0NAME=value\0..." */
    size_t len;
} creds_env;

/* Copies the variables the chain reads, plus the resolved region and CA
 * bundle (as ddbrun.region / ddbrun.ca_bundle). Returns 0 or -1 (no memory). */
int creds_env_capture(creds_env *e, const char *region, const char *ca_bundle);
/* The value of name, NULL when unset or empty; points into e. */
const char *creds_env_get(const creds_env *e, const char *name);
/* True for "true"/"1" (any case). */
int creds_env_true(const creds_env *e, const char *name);
/* Wipes (it may hold keys) and frees. */
void creds_env_free(creds_env *e);

/* What a cache keeps for its sources between refreshes. Only the thread
 * running the cache's refresh touches it (one refresh at a time), so it has
 * no lock of its own. */
typedef struct creds_session {
    long long clock_offset_ms;      /* signing clock offset: the cache's when the
                                       refresh starts; STS may correct it */
    char imds_token[256];           /* IMDSv2 session token, "" = none */
    long long imds_token_until_ms;  /* monotonic ms after which it is not reused */
} creds_session;

typedef struct creds_cache creds_cache;
typedef struct creds_registry creds_registry;

/* An empty registry, or NULL when out of memory. */
creds_registry *creds_registry_new(void);
/* Frees every cache (wiping the credentials) and r. Only once no thread
 * uses r or any of its caches. NULL is allowed. */
void creds_registry_free(creds_registry *r);

/* r's cache for the current environment's settings (region and ca_bundle
 * included), created on first use. Resolves nothing: credentials are fetched
 * on the first creds_cache_get. Returns NULL with err set when out of memory.
 * The cache lives as long as r. */
creds_cache *creds_cache_shared(creds_registry *r, const char *region, const char *ca_bundle,
                                char *err, size_t errlen);

/* Makes sure the current credentials are valid, refreshing first when they
 * are due (single flight), and copies them into *out (the caller wipes them)
 * unless *generation already is theirs; *generation is then updated (start
 * it at 0). *clock_offset_ms gets the signing clock's offset (see
 * creds_cache_set_clock_offset_ms), read under the same lock. Returns 0, or
 * -1 with err naming the source and the problem (never a secret) when no
 * valid credentials are left. */
int creds_cache_get(creds_cache *c, creds_value *out, unsigned long *generation, long long *clock_offset_ms,
                    char *err, size_t errlen);

/* The source in use ("instance metadata ddbrun-role"), "" before the first
 * fetch, and the expiry (0: none) of the credentials held. */
void creds_cache_describe(creds_cache *c, char *source, size_t size, long long *expiration_ms);

/* The signing clock is the wall clock plus this offset, learnt from the
 * server's Date when AWS refused a request as too skewed; shared by the
 * cache's clients and its STS calls. */
void creds_cache_set_clock_offset_ms(creds_cache *c, long long offset_ms);

/* Wall-clock Unix milliseconds. */
long long creds_wall_ms(void);
/* Milliseconds on the monotonic clock, for timeouts and reuse windows. */
long long creds_monotonic_ms(void);
/* Parses "2026-12-01T14:00:00Z" (fraction and +hh:mm allowed). Returns 0 or -1. */
int creds_parse_time(const char *text, long long *ms);
/* Parses an HTTP Date ("Tue, 01 Dec 2026 14:00:00 GMT"). Returns 0 or -1. */
int creds_parse_http_date(const char *text, long long *ms);
/* Formats ms as "2026-12-01T14:00:00Z". */
void creds_format_time(long long ms, char out[32]);

/* Wipes *v. */
void creds_value_clear(creds_value *v);

/* Copies the credential fields of a JSON document (IMDS, container and
 * credential_process use the same names; token_field is "Token" or
 * "SessionToken"). Returns 0, or -1 with err = what is missing. */
struct json_t;
int creds_from_json(const struct json_t *doc, const char *token_field, creds_value *out, char *err, size_t errlen);

#endif
