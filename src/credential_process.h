/* credential_process: runs a profile's command (through /bin/sh, as the AWS
 * CLI does) and reads {Version: 1, AccessKeyId, SecretAccessKey,
 * SessionToken, Expiration} from its stdout. Its stderr goes to ours (the
 * AWS CLI says there why an SSO session needs a login); its stdout, which
 * holds secrets, is never shown. */
#ifndef DDBRUN_CREDENTIAL_PROCESS_H
#define DDBRUN_CREDENTIAL_PROCESS_H

#include <stddef.h>

#include "creds.h"

#define CREDENTIAL_PROCESS_DEFAULT_TIMEOUT_S 60

/* Runs command in its own process group; when it has not exited within
 * timeout_s seconds, kills the group (SIGKILL) and fails with "timed out
 * after N s". Returns 0, or -1 with err naming the command and what went
 * wrong. */
int credential_process_fetch(const char *command, long timeout_s, creds_value *out, char *err, size_t errlen);

#endif
