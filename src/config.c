#include "config.h"
#include "creds.h"
#include "creds_chain.h"
#include "endpoints.h"
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int copy_setting(char *dst, size_t size, const char *name, const char *value,
                        char *err, size_t errlen)
{
    if (strlen(value) >= size) {
        snprintf(err, errlen, "%s is too long (at most %zu characters)", name, size - 1);
        return -1;
    }
    strcpy(dst, value);
    return 0;
}

int config_parse_long(const char *name, const char *text, long min, long max, long *out,
                      char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        snprintf(err, errlen, "%s must be a whole number from %ld to %ld, not '%s'", name, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int double_setting(const char *name, double min, double max, double *out, char *err, size_t errlen)
{
    const char *v = env(name);
    if (!v) return 0;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= min && d <= max)) {
        snprintf(err, errlen, "%s must be a number from %g to %g, not '%s'", name, min, max, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* Environment keys, unless AWS_PROFILE names a profile (the SDK for
 * JavaScript v3 does the same); otherwise the shared chain cache. */
static int resolve_credentials(ddb_config *cfg, char *err, size_t errlen)
{
    const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if ((id || secret) && !env("AWS_PROFILE")) {
        const char *token = env("AWS_SESSION_TOKEN");
        snprintf(cfg->static_source, sizeof cfg->static_source, "environment");
        return copy_setting(cfg->access_key, sizeof cfg->access_key, "AWS_ACCESS_KEY_ID", id ? id : "", err, errlen)
            || copy_setting(cfg->secret_key, sizeof cfg->secret_key, "AWS_SECRET_ACCESS_KEY", secret ? secret : "", err, errlen)
            || copy_setting(cfg->session_token, sizeof cfg->session_token, "AWS_SESSION_TOKEN", token ? token : "", err, errlen)
            ? -1 : 0;
    }
    cfg->creds = creds_cache_shared(cfg->region, cfg->ca_bundle, err, errlen);
    return cfg->creds ? 0 : -1;
}

static int resolve_region(ddb_config *cfg, char *err, size_t errlen)
{
    const char *region = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    if (region) return copy_setting(cfg->region, sizeof cfg->region, "AWS_REGION", region, err, errlen);
    char from_profile[64];
    int found = creds_profile_setting("region", from_profile, sizeof from_profile, err, errlen);
    if (found < 0) return -1;
    snprintf(cfg->region, sizeof cfg->region, "%s", found ? from_profile : CONFIG_DEFAULT_REGION);
    return 0;
}

int config_default_endpoint(ddb_config *cfg, char *err, size_t errlen)
{
    int fips, dualstack;
    if (endpoints_flag("AWS_USE_FIPS_ENDPOINT", env("AWS_USE_FIPS_ENDPOINT"), &fips, err, errlen) ||
        endpoints_flag("AWS_USE_DUALSTACK_ENDPOINT", env("AWS_USE_DUALSTACK_ENDPOINT"), &dualstack, err, errlen))
        return -1;
    return endpoints_resolve("dynamodb", cfg->region, fips, dualstack, cfg->endpoint, sizeof cfg->endpoint, err, errlen);
}

static const char *const ENDPOINT_NAMES[] = { "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT" };

int config_endpoint_from_env(void)
{
    for (size_t i = 0; i < sizeof ENDPOINT_NAMES / sizeof *ENDPOINT_NAMES; i++)
        if (env(ENDPOINT_NAMES[i])) return 1;
    return 0;
}

static int resolve_endpoint(ddb_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof ENDPOINT_NAMES / sizeof *ENDPOINT_NAMES; i++)
        if (env(ENDPOINT_NAMES[i]))
            return copy_setting(cfg->endpoint, sizeof cfg->endpoint, ENDPOINT_NAMES[i], env(ENDPOINT_NAMES[i]), err, errlen);
    return config_default_endpoint(cfg, err, errlen);
}

/* One table for ddb.client{...} and the environment. */
static const option_spec LONG_OPTIONS[] = {
    { "connect_timeout_ms", "DDBRUN_CONNECT_TIMEOUT_MS", 1, 600000, CONFIG_DEFAULT_CONNECT_TIMEOUT_MS,
      offsetof(ddb_config, connect_timeout_ms) },
    { "request_timeout_ms", "DDBRUN_REQUEST_TIMEOUT_MS", 1, 3600000, CONFIG_DEFAULT_REQUEST_TIMEOUT_MS,
      offsetof(ddb_config, request_timeout_ms) },
    { "max_attempts", "AWS_MAX_ATTEMPTS", 1, 100, RETRY_DEFAULT_MAX_ATTEMPTS, offsetof(ddb_config, retry.max_attempts) },
    { "retry_base_ms", "DDBRUN_RETRY_BASE_MS", 0, 60000, RETRY_DEFAULT_BASE_MS, offsetof(ddb_config, retry.base_ms) },
    { "retry_cap_ms", "DDBRUN_RETRY_CAP_MS", 0, 600000, RETRY_DEFAULT_CAP_MS, offsetof(ddb_config, retry.cap_ms) },
};
#define LONG_OPTION_COUNT (sizeof LONG_OPTIONS / sizeof *LONG_OPTIONS)

int config_option_set(ddb_config *cfg, const char *name, long v, const char *label, char *err, size_t errlen)
{
    return options_set(cfg, LONG_OPTIONS, LONG_OPTION_COUNT, name, v, label, err, errlen);
}

int config_from_env(ddb_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->retry = retry_default_policy();
    const char *ca = env("AWS_CA_BUNDLE");
    if (resolve_region(cfg, err, errlen) ||
        resolve_endpoint(cfg, err, errlen) ||
        (ca && copy_setting(cfg->ca_bundle, sizeof cfg->ca_bundle, "AWS_CA_BUNDLE", ca, err, errlen)) ||
        options_from_env(cfg, LONG_OPTIONS, LONG_OPTION_COUNT, err, errlen) ||
        double_setting("DDBRUN_RETRY_MULTIPLIER", 1.0, 10.0, &cfg->retry.multiplier, err, errlen) ||
        resolve_credentials(cfg, err, errlen))
        return -1;
    return 0;
}

static int is_printable(const char *s)
{
    for (; *s; s++)
        if (!isgraph((unsigned char)*s)) return 0;
    return 1;
}

int config_check(const ddb_config *cfg, char *err, size_t errlen)
{
    if (!cfg->access_key[0] && !cfg->secret_key[0] && cfg->creds) {
        /* the chain resolves on the first request */
    } else if (!cfg->access_key[0] || !cfg->secret_key[0]) {
        snprintf(err, errlen, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                 "(environment or .env), or add a profile to ~/.aws/credentials");
        return -1;
    }
    if (!is_printable(cfg->access_key) || !is_printable(cfg->secret_key)) {
        /* never echo the values: they are secrets */
        snprintf(err, errlen, "AWS credentials contain spaces or control characters");
        return -1;
    }
    if (strncmp(cfg->endpoint, "http://", 7) != 0 && strncmp(cfg->endpoint, "https://", 8) != 0) {
        snprintf(err, errlen, "endpoint '%s' must start with http:// or https://", cfg->endpoint);
        return -1;
    }
    if (!cfg->region[0]) {
        snprintf(err, errlen, "no AWS region: set AWS_REGION");
        return -1;
    }
    return 0;
}

void config_clear(ddb_config *cfg)
{
    OPENSSL_cleanse(cfg->secret_key, sizeof cfg->secret_key);
    OPENSSL_cleanse(cfg->session_token, sizeof cfg->session_token);
}
