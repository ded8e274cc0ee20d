/* The shared AWS config and credentials files (~/.aws/config with
 * [profile NAME] and [default], ~/.aws/credentials with [NAME]), read into
 * memory with the file and line of every setting. A profile's settings are
 * the config file's, then the credentials file's: the later one wins. */
#ifndef DDBRUN_AWS_PROFILE_H
#define DDBRUN_AWS_PROFILE_H

#include <stddef.h>

typedef struct aws_profile_entry {
    char *profile;        /* owned */
    char *key;            /* owned, as written */
    char *value;          /* owned, trimmed; may be a secret */
    const char *file;     /* points into aws_profiles */
    int line;
} aws_profile_entry;

typedef struct aws_profiles {
    char config_path[1024];       /* "" when there is no such file */
    char credentials_path[1024];
    aws_profile_entry *entries;   /* in file order */
    size_t count;
    char **names;                 /* every profile seen (even empty ones) */
    size_t name_count;
} aws_profiles;

/* Reads both files (a missing file is no error; an unreadable one is).
 * Returns 0, or -1 with err = "FILE:LINE: problem" and *p freed. */
int aws_profiles_load(aws_profiles *p, const char *config_path, const char *credentials_path,
                      char *err, size_t errlen);

/* The default paths for the environment: AWS_CONFIG_FILE or ~/.aws/config,
 * AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials ("" without HOME). */
void aws_profiles_paths(const char *config_env, const char *credentials_env, const char *home,
                        char *config_path, size_t csize, char *credentials_path, size_t crsize);

/* Whether the profile appears in either file. */
int aws_profiles_has(const aws_profiles *p, const char *profile);

/* The last setting key of profile, NULL when absent; points into p. */
const aws_profile_entry *aws_profiles_get(const aws_profiles *p, const char *profile, const char *key);

/* Wipes the values and frees everything. */
void aws_profiles_free(aws_profiles *p);

#endif
