#include "creds_chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_profile.h"
#include "container_creds.h"
#include "credential_process.h"
#include "imds.h"
#include "options.h"
#include "sts.h"

#define CREDS_CHAIN_MAX_DEPTH 8

/* A profile resolution: the files, and the profiles visited (loop check). */
typedef struct creds_chain_walk {
    const creds_env *e;
    creds_session *s;
    aws_profiles files;
    const char *visited[CREDS_CHAIN_MAX_DEPTH];
    int depth;
} creds_chain_walk;

static int creds_chain_profile(creds_chain_walk *w, const char *name, creds_value *out, char *source,
                               size_t ssize, char *err, size_t errlen);

static const char *creds_chain_value(const creds_chain_walk *w, const char *profile, const char *key)
{
    const aws_profile_entry *e = aws_profiles_get(&w->files, profile, key);
    return e ? e->value : NULL;
}

static int creds_chain_copy(char *dst, size_t size, const char *v)
{
    if (strlen(v) >= size) return -1;
    strcpy(dst, v);
    return 0;
}

/* aws_access_key_id / aws_secret_access_key / aws_session_token of profile. */
static int creds_chain_static(creds_chain_walk *w, const char *name, creds_value *out, char *err, size_t errlen)
{
    const aws_profile_entry *id = aws_profiles_get(&w->files, name, "aws_access_key_id");
    const char *secret = creds_chain_value(w, name, "aws_secret_access_key");
    const char *token = creds_chain_value(w, name, "aws_session_token");
    memset(out, 0, sizeof *out);
    if (!secret || !*id->value) {
        snprintf(err, errlen, "%s:%d: profile %s has aws_access_key_id without aws_secret_access_key", id->file, id->line, name);
        return -1;
    }
    if (creds_chain_copy(out->access_key, sizeof out->access_key, id->value) ||
        creds_chain_copy(out->secret_key, sizeof out->secret_key, secret) ||
        creds_chain_copy(out->session_token, sizeof out->session_token, token ? token : "")) {
        snprintf(err, errlen, "%s:%d: profile %s: a key is too long", id->file, id->line, name);
        creds_value_clear(out);
        return -1;
    }
    return 0;
}

static int creds_chain_env_keys(const creds_env *e, creds_value *out, char *err, size_t errlen)
{
    const char *id = creds_env_get(e, "AWS_ACCESS_KEY_ID"), *secret = creds_env_get(e, "AWS_SECRET_ACCESS_KEY");
    const char *token = creds_env_get(e, "AWS_SESSION_TOKEN");
    memset(out, 0, sizeof *out);
    if (!id || !secret || creds_chain_copy(out->access_key, sizeof out->access_key, id) ||
        creds_chain_copy(out->secret_key, sizeof out->secret_key, secret) ||
        creds_chain_copy(out->session_token, sizeof out->session_token, token ? token : "")) {
        snprintf(err, errlen, "credential_source Environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set");
        return -1;
    }
    return 0;
}

/* The credentials a role profile assumes the role with. */
static int creds_chain_role_source(creds_chain_walk *w, const char *name, creds_value *out, char *err, size_t errlen)
{
    const aws_profile_entry *sp = aws_profiles_get(&w->files, name, "source_profile");
    const aws_profile_entry *cs = aws_profiles_get(&w->files, name, "credential_source");
    const aws_profile_entry *role = aws_profiles_get(&w->files, name, "role_arn");
    char ignored[CREDS_SOURCE_SIZE], role_name[256];
    if (sp && cs) {
        snprintf(err, errlen, "%s:%d: profile %s has both source_profile and credential_source", cs->file, cs->line, name);
        return -1;
    }
    if (sp && strcmp(sp->value, name) == 0 && aws_profiles_get(&w->files, name, "aws_access_key_id"))
        return creds_chain_static(w, name, out, err, errlen);   /* a profile may be its own source */
    if (sp) {
        for (int i = 0; i < w->depth; i++) {
            if (strcmp(w->visited[i], sp->value) != 0) continue;
            char path[512] = "";
            for (int j = i; j < w->depth; j++)
                snprintf(path + strlen(path), sizeof path - strlen(path), "%.60s -> ", w->visited[j]);
            snprintf(err, errlen, "%s:%d: source_profile loop: %s%s", sp->file, sp->line, path, sp->value);
            return -1;
        }
        if (!aws_profiles_has(&w->files, sp->value)) {
            snprintf(err, errlen, "%s:%d: source_profile %s: no such profile", sp->file, sp->line, sp->value);
            return -1;
        }
        int rc = creds_chain_profile(w, sp->value, out, ignored, sizeof ignored, err, errlen);
        if (rc == 1) snprintf(err, errlen, "%s:%d: source_profile %s has no credentials", sp->file, sp->line, sp->value);
        return rc == 0 ? 0 : -1;
    }
    if (!cs) {
        snprintf(err, errlen, "%s:%d: profile %s: role_arn needs source_profile, credential_source or web_identity_token_file",
                 role->file, role->line, name);
        return -1;
    }
    char why[CREDS_ERROR_SIZE];
    int rc;
    if (strcmp(cs->value, "Environment") == 0) return creds_chain_env_keys(w->e, out, err, errlen);
    if (strcmp(cs->value, "Ec2InstanceMetadata") == 0) rc = imds_fetch(w->e, w->s, out, role_name, sizeof role_name, why, sizeof why);
    else if (strcmp(cs->value, "EcsContainer") == 0) rc = container_creds_fetch(w->e, out, why, sizeof why);
    else {
        snprintf(err, errlen, "%s:%d: credential_source must be Environment, Ec2InstanceMetadata or EcsContainer, not '%.64s'",
                 cs->file, cs->line, cs->value);
        return -1;
    }
    if (rc != 0) snprintf(err, errlen, "credential_source %s: %s", cs->value, why);
    return rc;
}

/* role_session_name, external_id, duration_seconds of a role profile. */
static int creds_chain_role(creds_chain_walk *w, const char *name, sts_role *role, char *err, size_t errlen)
{
    const aws_profile_entry *d = aws_profiles_get(&w->files, name, "duration_seconds");
    memset(role, 0, sizeof *role);
    role->role_arn = creds_chain_value(w, name, "role_arn");
    role->session_name = creds_chain_value(w, name, "role_session_name");
    role->external_id = creds_chain_value(w, name, "external_id");
    long long duration_s = 0;   /* 0: STS's default */
    if (d && options_parse_whole(d->value, 900, 43200, &duration_s) != 0) {
        snprintf(err, errlen, "%s:%d: duration_seconds must be a whole number from 900 to 43200, not '%.32s'",
                 d->file, d->line, d->value);
        return -1;
    }
    role->duration_s = (long)duration_s;
    return 0;
}

static int creds_chain_assume(creds_chain_walk *w, const char *name, creds_value *out, char *source,
                              size_t ssize, char *err, size_t errlen)
{
    sts_role role;
    creds_value from;
    char why[CREDS_ERROR_SIZE];
    const char *token_file = creds_chain_value(w, name, "web_identity_token_file");
    if (creds_chain_role(w, name, &role, err, errlen) != 0) return -1;
    if (token_file) {
        snprintf(source, ssize, "web identity %s", role.role_arn);
        if (sts_assume_role_with_web_identity(w->e, &role, token_file, out, why, sizeof why) == 0) return 0;
        snprintf(err, errlen, "%s (profile %s): %s", source, name, why);
        return -1;
    }
    snprintf(source, ssize, "assume-role %s via profile %s", role.role_arn, name);
    if (w->depth >= CREDS_CHAIN_MAX_DEPTH) {
        snprintf(err, errlen, "profile %s: source_profile chain longer than %d", name, CREDS_CHAIN_MAX_DEPTH);
        return -1;
    }
    w->visited[w->depth++] = name;
    int rc = creds_chain_role_source(w, name, &from, err, errlen);
    w->depth--;
    if (rc != 0) return -1;
    rc = sts_assume_role(w->e, w->s, &from, &role, out, why, sizeof why);
    if (rc != 0) snprintf(err, errlen, "%s: %s", source, why);
    creds_value_clear(&from);
    return rc;
}

/* DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S, else the default. */
static int creds_chain_process_timeout(const creds_env *e, long *timeout_s, char *err, size_t errlen)
{
    const char *v = creds_env_get(e, "DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S");
    long long n = CREDENTIAL_PROCESS_DEFAULT_TIMEOUT_S;
    if (v && options_parse_whole(v, 1, 3600, &n) != 0) {
        snprintf(err, errlen, "DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S must be a whole number from 1 to 3600, not '%.32s'", v);
        return -1;
    }
    *timeout_s = (long)n;
    return 0;
}

/* Returns 0, 1 when the profile has no credential settings, -1 on error. */
static int creds_chain_profile(creds_chain_walk *w, const char *name, creds_value *out, char *source,
                               size_t ssize, char *err, size_t errlen)
{
    const char *process = creds_chain_value(w, name, "credential_process");
    char why[CREDS_ERROR_SIZE];
    if (creds_chain_value(w, name, "role_arn")) return creds_chain_assume(w, name, out, source, ssize, err, errlen);
    if (creds_chain_value(w, name, "web_identity_token_file")) {
        const aws_profile_entry *t = aws_profiles_get(&w->files, name, "web_identity_token_file");
        snprintf(err, errlen, "%s:%d: profile %s has web_identity_token_file without role_arn", t->file, t->line, name);
        return -1;
    }
    if (process) {
        long timeout_s;
        snprintf(source, ssize, "process");
        if (creds_chain_process_timeout(w->e, &timeout_s, err, errlen) != 0) return -1;
        if (credential_process_fetch(process, timeout_s, out, why, sizeof why) == 0) return 0;
        snprintf(err, errlen, "profile %s: %s", name, why);
        return -1;
    }
    if (aws_profiles_get(&w->files, name, "aws_access_key_id")) {
        snprintf(source, ssize, "profile %s", name);
        return creds_chain_static(w, name, out, err, errlen);
    }
    return 1;
}

static void creds_chain_paths(const creds_env *e, char *config, size_t csize, char *credentials, size_t crsize)
{
    aws_profiles_paths(creds_env_get(e, "AWS_CONFIG_FILE"), creds_env_get(e, "AWS_SHARED_CREDENTIALS_FILE"),
                       creds_env_get(e, "HOME"), config, csize, credentials, crsize);
}

static int creds_chain_link_profile(const creds_env *e, creds_session *s, creds_value *out, char *source, size_t ssize,
                                    char *err, size_t errlen)
{
    const char *named = creds_env_get(e, "AWS_PROFILE");
    const char *name = named ? named : "default";
    char config[1024], credentials[1024];
    creds_chain_walk w;
    memset(&w, 0, sizeof w);
    w.e = e;
    w.s = s;
    creds_chain_paths(e, config, sizeof config, credentials, sizeof credentials);
    if (aws_profiles_load(&w.files, config, credentials, err, errlen) != 0) return -1;
    int rc = 1;
    if (!aws_profiles_has(&w.files, name)) {
        if (named) {
            snprintf(err, errlen, "profile %s (AWS_PROFILE): not found in %s or %s", name,
                     config[0] ? config : "~/.aws/config", credentials[0] ? credentials : "~/.aws/credentials");
            rc = -1;
        }
    } else {
        rc = creds_chain_profile(&w, name, out, source, ssize, err, errlen);
        if (rc == 1 && named) {
            snprintf(err, errlen, "profile %s (AWS_PROFILE) has no credentials: no aws_access_key_id, role_arn, "
                     "web_identity_token_file or credential_process", name);
            rc = -1;
        }
    }
    aws_profiles_free(&w.files);
    return rc;
}

static int creds_chain_link_web_identity(const creds_env *e, creds_session *s, creds_value *out, char *source, size_t ssize,
                                         char *err, size_t errlen)
{
    const char *file = creds_env_get(e, "AWS_WEB_IDENTITY_TOKEN_FILE"), *arn = creds_env_get(e, "AWS_ROLE_ARN");
    char why[CREDS_ERROR_SIZE];
    (void)s;   /* unsigned: no clock */
    if (!file && !arn) return 1;
    if (!file || !arn) {
        snprintf(err, errlen, "web identity: %s is set but %s is not", file ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
                 file ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
        return -1;
    }
    sts_role role = { arn, creds_env_get(e, "AWS_ROLE_SESSION_NAME"), NULL, 0 };
    snprintf(source, ssize, "web identity %s", arn);
    if (sts_assume_role_with_web_identity(e, &role, file, out, why, sizeof why) == 0) return 0;
    snprintf(err, errlen, "%s: %s", source, why);
    return -1;
}

static int creds_chain_link_container(const creds_env *e, creds_session *s, creds_value *out, char *source, size_t ssize,
                                      char *err, size_t errlen)
{
    char why[CREDS_ERROR_SIZE];
    (void)s;
    if (!container_creds_configured(e)) return 1;
    snprintf(source, ssize, "container");
    if (container_creds_fetch(e, out, why, sizeof why) == 0) return 0;
    snprintf(err, errlen, "container: %s", why);
    return -1;
}

static int creds_chain_link_imds(const creds_env *e, creds_session *s, creds_value *out, char *source, size_t ssize,
                                 char *err, size_t errlen)
{
    char why[CREDS_ERROR_SIZE], role[256];
    if (creds_env_true(e, "AWS_EC2_METADATA_DISABLED")) return 1;
    if (imds_fetch(e, s, out, role, sizeof role, why, sizeof why) == 0) {
        snprintf(source, ssize, "instance metadata %s", role);
        return 0;
    }
    snprintf(err, errlen, "instance metadata: %s", why);
    return -1;
}

typedef int (*creds_chain_link)(const creds_env *, creds_session *, creds_value *, char *, size_t, char *, size_t);

static const creds_chain_link CREDS_CHAIN_LINKS[] = {
    creds_chain_link_profile, creds_chain_link_web_identity, creds_chain_link_container, creds_chain_link_imds,
};
#define CREDS_CHAIN_LINK_COUNT ((int)(sizeof CREDS_CHAIN_LINKS / sizeof *CREDS_CHAIN_LINKS))

int creds_chain_fetch(const creds_env *e, creds_session *s, int *link, creds_value *out, char *source, size_t ssize,
                      char *err, size_t errlen)
{
    int first = *link >= 0 ? *link : 0, last = *link >= 0 ? *link : CREDS_CHAIN_LINK_COUNT - 1;
    for (int i = first; i <= last; i++) {
        int rc = CREDS_CHAIN_LINKS[i](e, s, out, source, ssize, err, errlen);
        if (rc == 1) continue;
        if (rc == 0) *link = i;
        return rc;
    }
    snprintf(err, errlen, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (environment or .env), "
             "or a profile in ~/.aws/config or ~/.aws/credentials (AWS_PROFILE), web identity, a container endpoint "
             "or an EC2 role%s", creds_env_true(e, "AWS_EC2_METADATA_DISABLED")
             ? " (instance metadata is disabled by AWS_EC2_METADATA_DISABLED)" : "");
    return -1;
}

int creds_profile_setting(const char *key, char *out, size_t size, char *err, size_t errlen)
{
    const char *named = getenv("AWS_PROFILE");
    char config[1024], credentials[1024];
    aws_profiles files;
    aws_profiles_paths(getenv("AWS_CONFIG_FILE"), getenv("AWS_SHARED_CREDENTIALS_FILE"), getenv("HOME"),
                       config, sizeof config, credentials, sizeof credentials);
    if (aws_profiles_load(&files, config, credentials, err, errlen) != 0) return -1;
    const aws_profile_entry *v = aws_profiles_get(&files, named && *named ? named : "default", key);
    int rc = v && *v->value ? 1 : 0;
    if (rc) snprintf(out, size, "%s", v->value);
    aws_profiles_free(&files);
    return rc;
}
