#include "endpoints.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* Regions with a FIPS endpoint (dynamodb-fips / sts-fips). In GovCloud the
 * standard endpoints already are FIPS ones. */
static const char *const ENDPOINTS_DYNAMODB_FIPS[] = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", NULL
};
static const char *const ENDPOINTS_STS_FIPS[] = { "us-east-1", "us-east-2", "us-west-1", "us-west-2", NULL };

static int endpoints_listed(const char *const *list, const char *region)
{
    for (; *list; list++)
        if (strcmp(*list, region) == 0) return 1;
    return 0;
}

int endpoints_flag(const char *name, const char *value, int *out, char *err, size_t errlen)
{
    if (!value || !*value || strcasecmp(value, "false") == 0) {
        *out = 0;
        return 0;
    }
    if (strcasecmp(value, "true") == 0) {
        *out = 1;
        return 0;
    }
    snprintf(err, errlen, "%s must be true or false, not '%s'", name, value);
    return -1;
}

int endpoints_resolve(const char *service, const char *region, int fips, int dualstack,
                      char *out, size_t size, char *err, size_t errlen)
{
    int china = strncmp(region, "cn-", 3) == 0, gov = strncmp(region, "us-gov-", 7) == 0;
    const char *const *fips_list = strcmp(service, "sts") == 0 ? ENDPOINTS_STS_FIPS : ENDPOINTS_DYNAMODB_FIPS;
    if (fips && !gov && !endpoints_listed(fips_list, region)) {
        snprintf(err, errlen, "AWS_USE_FIPS_ENDPOINT: %s has no FIPS endpoint in %s", service, region);
        return -1;
    }
    const char *suffix = dualstack ? (china ? "api.amazonwebservices.com.cn" : "api.aws")
                                   : (china ? "amazonaws.com.cn" : "amazonaws.com");
    int n = snprintf(out, size, "https://%s%s.%s.%s", service, fips && !gov ? "-fips" : "", region, suffix);
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, errlen, "region '%.64s' is too long", region);
        return -1;
    }
    return 0;
}

int endpoints_url_parts(const char *url, char *host, size_t hsize, char *path, size_t psize)
{
    CURLU *u = curl_url();
    if (!u) return -2;
    char *h = NULL, *port = NULL, *p = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);   /* only an explicit port */
        curl_url_get(u, CURLUPART_PATH, &p, 0);
        snprintf(host, hsize, "%s%s%s", h, port ? ":" : "", port ? port : "");
        snprintf(path, psize, "%s", p && *p ? p : "/");
        rc = 0;
    }
    curl_free(h);
    curl_free(port);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}
