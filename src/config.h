/* Client configuration resolved from the environment (after .env) and the
 * shared credentials file. The struct owns copies of every string, so one
 * config can be handed to many threads, each building its own client. */
#ifndef DDBRUN_CONFIG_H
#define DDBRUN_CONFIG_H

#include <stddef.h>

#include "options.h"
#include "retry.h"
#include "throttle.h"

struct creds_cache;
struct creds_registry;

typedef struct ddb_config {
    char endpoint[512];          /* "https://dynamodb.eu-west-1.amazonaws.com" */
    char region[64];
    char access_key[128];
    char secret_key[256];
    char session_token[4096];
    /* When the keys above are empty: the program's credential cache for
     * these settings (not owned: it belongs to the creds_registry it came
     * from, which outlives every config and client; see creds.h). */
    struct creds_cache *creds;
    char static_source[32];      /* where the keys above came from: "environment" */
    char ca_bundle[1024];        /* "" = the system's trust store */
    long connect_timeout_ms;
    long request_timeout_ms;
    retry_policy retry;
    int retry_mode;              /* throttle_mode, AWS_RETRY_MODE: standard (default) or adaptive */
    throttle *throttle;          /* borrowed: retry quota and adaptive limiter shared by every
                                    client made from this config; NULL: none (C callers) */
    throttle_bucket *cap;        /* borrowed: a fixed request rate for these clients; NULL: none */
} ddb_config;

#define CONFIG_DEFAULT_REGION "us-east-1"
#define CONFIG_DEFAULT_CONNECT_TIMEOUT_MS 3000
#define CONFIG_DEFAULT_REQUEST_TIMEOUT_MS 10000

/* Resolves:
 *   endpoint   AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, DYNAMODB_ENDPOINT,
 *              else https://dynamodb.<region>.amazonaws.com
 *              (AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT: see endpoints.h)
 *   region     AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1
 *   keys       AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
 *              when AWS_PROFILE is not set, else creds's cache (for these
 *              settings) of the provider chain (creds_chain.h), which
 *              resolves lazily
 *   TLS        AWS_CA_BUNDLE
 *   timeouts   DDBRUN_CONNECT_TIMEOUT_MS, DDBRUN_REQUEST_TIMEOUT_MS
 *   retries    AWS_MAX_ATTEMPTS, DDBRUN_RETRY_BASE_MS, DDBRUN_RETRY_MULTIPLIER,
 *              DDBRUN_RETRY_CAP_MS, AWS_RETRY_MODE (standard | adaptive; the
 *              shared throttle itself is attached by the caller)
 * Missing credentials are not an error here (see config_check). With creds
 * NULL no chain cache is chosen yet: a caller that changes the settings first
 * then calls config_rekey_credentials once. Returns 0, or -1 with a message
 * naming the variable or file in err. */
int config_from_env(ddb_config *cfg, struct creds_registry *creds, char *err, size_t errlen);

/* Points cfg->creds at creds's cache for cfg's settings (its region and
 * ca_bundle key the cache and choose the STS region), e.g. once ddb.client
 * options are applied. No-op for static keys. Returns 0 or -1 with err. */
int config_rekey_credentials(ddb_config *cfg, struct creds_registry *creds, char *err, size_t errlen);

/* True when the environment names an endpoint (so the region does not choose it). */
int config_endpoint_from_env(void);

/* Sets cfg->endpoint to the default for cfg->region (FIPS, dual-stack from
 * the environment). Returns 0 or -1 with err set. */
int config_default_endpoint(ddb_config *cfg, char *err, size_t errlen);

/* Checks that cfg can sign requests: credentials present (or a cache), access key
 * printable, endpoint http(s). Returns 0 or -1 with err set. */
int config_check(const ddb_config *cfg, char *err, size_t errlen);

/* The settings table of a client, for ddb.client{...} and the environment:
 * endpoint region access_key_id secret_access_key session_token ca_bundle
 * connect_timeout_ms request_timeout_ms max_attempts retry_base_ms
 * retry_multiplier retry_cap_ms. */
extern const option_table config_option_table;

/* Wipes the secrets. */
void config_clear(ddb_config *cfg);

#endif
