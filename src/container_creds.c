#include "container_creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "creds_http.h"

#define CONTAINER_CREDS_HOST "http://169.254.170.2"
#define CONTAINER_CREDS_TIMEOUT_MS 2000

int container_creds_configured(const creds_env *e)
{
    return creds_env_get(e, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
           creds_env_get(e, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
}

static int container_creds_host_allowed(const char *host)
{
    static const char *const allowed[] = { "localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23",
                                           "[fd00:ec2::23]", "::1", "[::1]", NULL };
    for (int i = 0; allowed[i]; i++)
        if (strcasecmp(host, allowed[i]) == 0) return 1;
    return strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == strlen(host);
}

/* An http FULL_URI must name a host the SDKs allow. */
static int container_creds_check_full(const char *uri, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        snprintf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
    else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
        snprintf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be http or https, not %s", scheme);
    else if (strcmp(scheme, "http") == 0 && !container_creds_host_allowed(host))
        snprintf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI: host %s is not allowed over http "
                 "(use https, or a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23)", host);
    else
        rc = 0;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int container_creds_url(const creds_env *e, char *out, size_t size, char *err, size_t errlen)
{
    const char *relative = creds_env_get(e, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = creds_env_get(e, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (relative) {
        snprintf(out, size, CONTAINER_CREDS_HOST "%s%s", relative[0] == '/' ? "" : "/", relative);
        return 0;
    }
    if (!full) {
        snprintf(err, errlen, "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor _FULL_URI is set");
        return -1;
    }
    if (container_creds_check_full(full, err, errlen) != 0) return -1;
    snprintf(out, size, "%s", full);
    return 0;
}

/* "Authorization: <token>" from the token file (read now) or the variable;
 * "" when neither is set. */
static int container_creds_auth(const creds_env *e, char *out, size_t size, char *err, size_t errlen)
{
    const char *path = creds_env_get(e, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *token = creds_env_get(e, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    char text[2048];
    out[0] = '\0';
    if (path) {
        FILE *f = fopen(path, "r");
        if (!f) {
            snprintf(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s", path, strerror(errno));
            return -1;
        }
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        text[strcspn(text, "\r\n")] = '\0';
        token = text;
    }
    if (token && strpbrk(token, "\r\n")) {
        snprintf(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
        return -1;
    }
    if (token && *token) snprintf(out, size, "Authorization: %s", token);
    OPENSSL_cleanse(text, sizeof text);
    return 0;
}

int container_creds_fetch(const creds_env *e, creds_value *out, char *err, size_t errlen)
{
    char url[2048], auth[2200], cause[400], why[200];
    if (container_creds_url(e, url, sizeof url, err, errlen) != 0 || container_creds_auth(e, auth, sizeof auth, err, errlen) != 0)
        return -1;
    const char *headers[1] = { auth };
    creds_http_request r = { "GET", url, headers, auth[0] ? 1 : 0, NULL, CONTAINER_CREDS_TIMEOUT_MS, 1, NULL };
    creds_http_response resp;
    int rc = -1;
    if (creds_http_send(&r, &resp, cause, sizeof cause) != 0) {
        snprintf(err, errlen, "no answer from %s (%s)", url, cause);
        OPENSSL_cleanse(auth, sizeof auth);
        return -1;
    }
    OPENSSL_cleanse(auth, sizeof auth);
    json_t *doc = resp.status == 200 ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    if (resp.status != 200)
        snprintf(err, errlen, "HTTP %ld from %s", resp.status, url);
    else if (!doc)
        snprintf(err, errlen, "%s: the answer is not JSON", url);
    else if (creds_from_json(doc, "Token", out, why, sizeof why) != 0)
        snprintf(err, errlen, "%s: %s", url, why);
    else
        rc = 0;
    json_decref(doc);
    creds_http_response_free(&resp);
    return rc;
}
