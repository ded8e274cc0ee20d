/* Credentials from the EC2 instance metadata service: IMDSv2 (a session token
 * from PUT /latest/api/token, then the role name, then its credentials), with
 * IMDSv1 as the fallback when the token request is refused (403/404/405)
 * unless AWS_EC2_METADATA_V1_DISABLED. Short timeouts (AWS_METADATA_SERVICE_TIMEOUT
 * seconds, 1 by default); never through a proxy. */
#ifndef DDBRUN_IMDS_H
#define DDBRUN_IMDS_H

#include <stddef.h>

#include "creds.h"

/* The endpoint: AWS_EC2_METADATA_SERVICE_ENDPOINT, else by
 * AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (IPv4: http://169.254.169.254,
 * IPv6: http://[fd00:ec2::254]); without a trailing slash. */
void imds_endpoint(const creds_env *e, char *out, size_t size);

/* Fetches the credentials of the instance's role (its name into role).
 * The IMDSv2 token is kept in s and reused until a minute before its TTL
 * (6 hours) runs out, or until the service refuses it (401: a new token, once).
 * A transient failure (connection refused or reset, HTTP 5xx; not a timeout)
 * is retried once with the same short timeout.
 * Returns 0, or -1 with err ("role ddbrun-role: HTTP 401"), never a secret. */
int imds_fetch(const creds_env *e, creds_session *s, creds_value *out, char *role, size_t role_size, char *err, size_t errlen);

#endif
