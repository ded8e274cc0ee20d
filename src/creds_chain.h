/* The provider chain, in the AWS SDK for JavaScript v3's order after the
 * environment keys (which config.c takes directly): the profile (AWS_PROFILE
 * or default; static keys, assume-role, web identity, credential_process),
 * web identity from the environment, the container endpoint, EC2 instance
 * metadata. The first source that is configured answers; a configured source
 * that fails is an error (the chain does not fall through it). */
#ifndef DDBRUN_CREDS_CHAIN_H
#define DDBRUN_CREDS_CHAIN_H

#include <stddef.h>

#include "creds.h"

/* Fetches credentials. *link is the source to ask (-1: try them in order)
 * and receives the one that answered. source gets its description
 * ("assume-role ARN via profile NAME"). s is the asking cache's session
 * (IMDS token, signing clock), read and updated. Returns 0, or -1 with err. */
int creds_chain_fetch(const creds_env *e, creds_session *s, int *link, creds_value *out, char *source, size_t ssize,
                      char *err, size_t errlen);

/* A setting of the current profile (AWS_PROFILE or default) from the live
 * environment's files, for the region. Returns 1 with out set, 0 when
 * absent, -1 with err ("FILE:LINE: problem"). */
int creds_profile_setting(const char *key, char *out, size_t size, char *err, size_t errlen);

#endif
