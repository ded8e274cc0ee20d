/* Credentials from the container endpoint (ECS/Fargate, EKS Pod Identity):
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on http://169.254.170.2, or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback address,
 * 169.254.170.2, 169.254.170.23 or fd00:ec2::23), with the Authorization
 * header from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read again on every
 * fetch: it rotates) or AWS_CONTAINER_AUTHORIZATION_TOKEN. Never through a
 * proxy. */
#ifndef DDBRUN_CONTAINER_CREDS_H
#define DDBRUN_CONTAINER_CREDS_H

#include <stddef.h>

#include "creds.h"

/* Whether either URI variable is set. */
int container_creds_configured(const creds_env *e);

/* The URL to ask, checked. Returns 0, or -1 with err naming the variable. */
int container_creds_url(const creds_env *e, char *out, size_t size, char *err, size_t errlen);

/* Returns 0, or -1 with err ("HTTP 401 from http://..."), never a secret. */
int container_creds_fetch(const creds_env *e, creds_value *out, char *err, size_t errlen);

#endif
