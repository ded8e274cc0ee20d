#include "config.h"
#include "creds.h"
#include "creds_chain.h"
#include "endpoints.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const char *config_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int config_copy_setting(char *dst, size_t size, const char *name, const char *value,
                               char *err, size_t errlen)
{
    if (strlen(value) >= size) {
        snprintf(err, errlen, "%s is too long (at most %zu characters)", name, size - 1);
        return -1;
    }
    strcpy(dst, value);
    return 0;
}

/* Environment keys, unless AWS_PROFILE names a profile (the SDK for
 * JavaScript v3 does the same); otherwise the shared chain cache. */
static int config_resolve_credentials(ddb_config *cfg, creds_registry *creds, char *err, size_t errlen)
{
    const char *id = config_env("AWS_ACCESS_KEY_ID"), *secret = config_env("AWS_SECRET_ACCESS_KEY");
    if ((id || secret) && !config_env("AWS_PROFILE")) {
        const char *token = config_env("AWS_SESSION_TOKEN");
        snprintf(cfg->static_source, sizeof cfg->static_source, "environment");
        return config_copy_setting(cfg->access_key, sizeof cfg->access_key, "AWS_ACCESS_KEY_ID", id ? id : "", err, errlen)
            || config_copy_setting(cfg->secret_key, sizeof cfg->secret_key, "AWS_SECRET_ACCESS_KEY", secret ? secret : "", err, errlen)
            || config_copy_setting(cfg->session_token, sizeof cfg->session_token, "AWS_SESSION_TOKEN", token ? token : "", err, errlen)
            ? -1 : 0;
    }
    cfg->creds = NULL;
    return creds ? config_rekey_credentials(cfg, creds, err, errlen) : 0;
}

int config_rekey_credentials(ddb_config *cfg, creds_registry *creds, char *err, size_t errlen)
{
    if (cfg->access_key[0] || cfg->secret_key[0] || cfg->static_source[0]) return 0;
    cfg->creds = creds_cache_shared(creds, cfg->region, cfg->ca_bundle, err, errlen);
    return cfg->creds ? 0 : -1;
}

static int config_resolve_region(ddb_config *cfg, char *err, size_t errlen)
{
    const char *region = config_env("AWS_REGION") ? config_env("AWS_REGION") : config_env("AWS_DEFAULT_REGION");
    if (region) return config_copy_setting(cfg->region, sizeof cfg->region, "AWS_REGION", region, err, errlen);
    char from_profile[64];
    int found = creds_profile_setting("region", from_profile, sizeof from_profile, err, errlen);
    if (found < 0) return -1;
    snprintf(cfg->region, sizeof cfg->region, "%s", found ? from_profile : CONFIG_DEFAULT_REGION);
    return 0;
}

/* The variable, else the profile's setting (as the SDKs do). */
static int config_endpoint_flag(const char *name, const char *key, int *on, char *err, size_t errlen)
{
    char from_profile[64], label[96];
    if (config_env(name)) return endpoints_flag(name, config_env(name), on, err, errlen);
    int found = creds_profile_setting(key, from_profile, sizeof from_profile, err, errlen);
    if (found < 0) return -1;
    snprintf(label, sizeof label, "the profile's %s", key);
    return endpoints_flag(label, found ? from_profile : NULL, on, err, errlen);
}

int config_default_endpoint(ddb_config *cfg, char *err, size_t errlen)
{
    int fips, dualstack;
    if (config_endpoint_flag("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint", &fips, err, errlen) ||
        config_endpoint_flag("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint", &dualstack, err, errlen))
        return -1;
    return endpoints_resolve("dynamodb", cfg->region, fips, dualstack, cfg->endpoint, sizeof cfg->endpoint, err, errlen);
}

static const char *const ENDPOINT_NAMES[] = { "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT" };

int config_endpoint_from_env(void)
{
    for (size_t i = 0; i < sizeof ENDPOINT_NAMES / sizeof *ENDPOINT_NAMES; i++)
        if (config_env(ENDPOINT_NAMES[i])) return 1;
    return 0;
}

static int config_resolve_endpoint(ddb_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof ENDPOINT_NAMES / sizeof *ENDPOINT_NAMES; i++)
        if (config_env(ENDPOINT_NAMES[i]))
            return config_copy_setting(cfg->endpoint, sizeof cfg->endpoint, ENDPOINT_NAMES[i], config_env(ENDPOINT_NAMES[i]), err, errlen);
    return config_default_endpoint(cfg, err, errlen);
}

/* One table for ddb.client{...} and the environment. Endpoint, region and
 * keys are found in the environment by the resolution above (several
 * variables, a profile, the provider chain), so their rows name no variable. */
static const char *const CONFIG_RETRY_MODES[] = { "standard", "adaptive", NULL };

static const option_spec CONFIG_OPTIONS[] = {
    OPTION_STRING_SPEC("endpoint", NULL, ddb_config, endpoint),
    OPTION_STRING_SPEC("region", NULL, ddb_config, region),
    OPTION_STRING_SPEC("access_key_id", NULL, ddb_config, access_key),
    OPTION_STRING_SPEC("secret_access_key", NULL, ddb_config, secret_key),
    OPTION_STRING_SPEC("session_token", NULL, ddb_config, session_token),
    OPTION_STRING_SPEC("ca_bundle", "AWS_CA_BUNDLE", ddb_config, ca_bundle),
    OPTION_WHOLE_SPEC("connect_timeout_ms", "DDBRUN_CONNECT_TIMEOUT_MS", ddb_config, connect_timeout_ms,
                      1, 600000, CONFIG_DEFAULT_CONNECT_TIMEOUT_MS),
    OPTION_WHOLE_SPEC("request_timeout_ms", "DDBRUN_REQUEST_TIMEOUT_MS", ddb_config, request_timeout_ms,
                      1, 3600000, CONFIG_DEFAULT_REQUEST_TIMEOUT_MS),
    OPTION_WHOLE_SPEC("max_attempts", "AWS_MAX_ATTEMPTS", ddb_config, retry.max_attempts,
                      1, 100, RETRY_DEFAULT_MAX_ATTEMPTS),
    OPTION_WHOLE_SPEC("retry_base_ms", "DDBRUN_RETRY_BASE_MS", ddb_config, retry.base_ms,
                      0, 60000, RETRY_DEFAULT_BASE_MS),
    OPTION_NUMBER_SPEC("retry_multiplier", "DDBRUN_RETRY_MULTIPLIER", ddb_config, retry.multiplier,
                       1, 10, RETRY_DEFAULT_MULTIPLIER),
    OPTION_WHOLE_SPEC("retry_cap_ms", "DDBRUN_RETRY_CAP_MS", ddb_config, retry.cap_ms,
                      0, 600000, RETRY_DEFAULT_CAP_MS),
    /* the order of throttle_mode */
    { "retry_mode", "AWS_RETRY_MODE", OPTION_CHOICE, offsetof(ddb_config, retry_mode), 0, 0, THROTTLE_STANDARD, 0,
      CONFIG_RETRY_MODES },
};

const option_table config_option_table = OPTION_TABLE(CONFIG_OPTIONS);

int config_from_env(ddb_config *cfg, creds_registry *creds, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->retry = retry_default_policy();
    options_defaults(cfg, &config_option_table);
    if (config_resolve_region(cfg, err, errlen) != 0)
        return -1;
    if (config_resolve_endpoint(cfg, err, errlen) != 0)
        return -1;
    if (options_from_env(cfg, &config_option_table, err, errlen) != 0)
        return -1;
    return config_resolve_credentials(cfg, creds, err, errlen);
}

static int config_is_printable(const char *s)
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
    if (!config_is_printable(cfg->access_key) || !config_is_printable(cfg->secret_key)) {
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
