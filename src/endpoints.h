/* Default AWS endpoints for DynamoDB and STS in every partition: aws
 * (amazonaws.com), aws-cn (amazonaws.com.cn), aws-us-gov, with the FIPS and
 * dual-stack variants. */
#ifndef DDBRUN_ENDPOINTS_H
#define DDBRUN_ENDPOINTS_H

#include <stddef.h>

/* Writes "https://<name>" for service ("dynamodb" or "sts") in region into
 * out. Returns 0, or -1 with err set when the variant does not exist there
 * (FIPS outside the US and Canada) or out is too small. */
int endpoints_resolve(const char *service, const char *region, int fips, int dualstack,
                      char *out, size_t size, char *err, size_t errlen);

/* Splits url into what SigV4 signs: the Host header value (host, and :port
 * only when the URL names one) and the path ("/" when empty). Returns 0, -1
 * when url is not a valid URL, -2 when out of memory. */
int endpoints_url_parts(const char *url, char *host, size_t hsize, char *path, size_t psize);

/* Parses a true/false setting (AWS_USE_FIPS_ENDPOINT); NULL is false.
 * Returns 0, or -1 with err naming the setting. */
int endpoints_flag(const char *name, const char *value, int *out, char *err, size_t errlen);

#endif
