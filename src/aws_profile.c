#include "aws_profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static char *aws_profile_trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

void aws_profiles_paths(const char *config_env, const char *credentials_env, const char *home,
                        char *config_path, size_t csize, char *credentials_path, size_t crsize)
{
    if (config_env) snprintf(config_path, csize, "%s", config_env);
    else if (home) snprintf(config_path, csize, "%s/.aws/config", home);
    else config_path[0] = '\0';
    if (credentials_env) snprintf(credentials_path, crsize, "%s", credentials_env);
    else if (home) snprintf(credentials_path, crsize, "%s/.aws/credentials", home);
    else credentials_path[0] = '\0';
}

static int aws_profile_add_name(aws_profiles *p, const char *name)
{
    if (aws_profiles_has(p, name)) return 0;
    char **bigger = realloc(p->names, (p->name_count + 1) * sizeof *bigger);
    if (!bigger) return -1;
    p->names = bigger;
    if (!(p->names[p->name_count] = strdup(name))) return -1;
    p->name_count++;
    return 0;
}

static int aws_profile_add_entry(aws_profiles *p, const char *profile, const char *key, const char *value,
                                 const char *file, int line)
{
    aws_profile_entry *bigger = realloc(p->entries, (p->count + 1) * sizeof *bigger);
    if (!bigger) return -1;
    p->entries = bigger;
    aws_profile_entry *e = &p->entries[p->count];
    e->profile = strdup(profile);
    e->key = strdup(key);
    e->value = strdup(value);
    e->file = file;
    e->line = line;
    p->count++;   /* counted even when a copy failed, so _free releases the others */
    return e->profile && e->key && e->value ? 0 : -1;
}

/* The profile a section header names, or "" for sections that are not
 * profiles ([sso-session x], [services x]). Returns -1 when malformed. */
static int aws_profile_section(char *s, int is_config, char *name, size_t size)
{
    char *close = strchr(s, ']');
    if (!close || *aws_profile_trim(close + 1) != '\0') return -1;
    *close = '\0';
    char *inner = aws_profile_trim(s + 1);
    if (!*inner) return -1;
    name[0] = '\0';
    if (!is_config) {
        snprintf(name, size, "%s", inner);
    } else if (strcmp(inner, "default") == 0) {
        snprintf(name, size, "default");
    } else if (strncmp(inner, "profile", 7) == 0 && isspace((unsigned char)inner[7])) {
        snprintf(name, size, "%s", aws_profile_trim(inner + 8));
    }
    return 0;
}

typedef struct aws_profile_reader {
    aws_profiles *p;
    const char *path;
    int is_config;
    int line;
    char profile[256];
    int in_section;        /* a header was seen */
    int nested_ok;         /* the last key had an empty value: indented sub-settings may follow */
} aws_profile_reader;

static int aws_profile_line(aws_profile_reader *r, char *raw, char *err, size_t errlen)
{
    int indented = raw[0] == ' ' || raw[0] == '\t';
    char *s = aws_profile_trim(raw);
    if (*s == '\0' || *s == '#' || *s == ';') return 0;
    if (*s == '[') {
        if (aws_profile_section(s, r->is_config, r->profile, sizeof r->profile) != 0) {
            snprintf(err, errlen, "%s:%d: malformed section header (expected [profile NAME] or [default])", r->path, r->line);
            return -1;
        }
        r->in_section = 1;
        r->nested_ok = 0;
        return r->profile[0] ? aws_profile_add_name(r->p, r->profile) : 0;
    }
    if (indented && r->nested_ok) return 0;   /* "s3 =\n  max_concurrent_requests = 5" */
    char *eq = strchr(s, '=');
    if (!eq || !r->in_section) {
        snprintf(err, errlen, "%s:%d: %s", r->path, r->line,
                 r->in_section ? "expected 'key = value'" : "a setting before any [section]");
        return -1;
    }
    *eq = '\0';
    char *key = aws_profile_trim(s), *value = aws_profile_trim(eq + 1);
    if (!*key) {
        snprintf(err, errlen, "%s:%d: expected 'key = value'", r->path, r->line);
        return -1;
    }
    r->nested_ok = *value == '\0';
    if (!r->profile[0]) return 0;
    return aws_profile_add_entry(r->p, r->profile, key, value, r->path, r->line);
}

static int aws_profile_read(aws_profiles *p, const char *path, int is_config, char *err, size_t errlen)
{
    if (!path[0]) return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    aws_profile_reader r = { p, path, is_config, 0, "", 0, 0 };
    char line[8192];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        r.line++;
        rc = aws_profile_line(&r, line, err, errlen);
        if (rc > 0) rc = 0;
        else if (rc < 0 && !err[0]) snprintf(err, errlen, "out of memory reading %s", path);
    }
    OPENSSL_cleanse(line, sizeof line);
    fclose(f);
    return rc;
}

int aws_profiles_load(aws_profiles *p, const char *config_path, const char *credentials_path,
                      char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    snprintf(p->config_path, sizeof p->config_path, "%s", config_path ? config_path : "");
    snprintf(p->credentials_path, sizeof p->credentials_path, "%s", credentials_path ? credentials_path : "");
    err[0] = '\0';
    if (aws_profile_read(p, p->config_path, 1, err, errlen) != 0 ||
        aws_profile_read(p, p->credentials_path, 0, err, errlen) != 0) {
        aws_profiles_free(p);
        return -1;
    }
    return 0;
}

int aws_profiles_has(const aws_profiles *p, const char *profile)
{
    for (size_t i = 0; i < p->name_count; i++)
        if (strcmp(p->names[i], profile) == 0) return 1;
    return 0;
}

const aws_profile_entry *aws_profiles_get(const aws_profiles *p, const char *profile, const char *key)
{
    for (size_t i = p->count; i-- > 0;)
        if (strcmp(p->entries[i].profile, profile) == 0 && strcmp(p->entries[i].key, key) == 0) return &p->entries[i];
    return NULL;
}

void aws_profiles_free(aws_profiles *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->entries[i].profile);
        free(p->entries[i].key);
        if (p->entries[i].value) OPENSSL_cleanse(p->entries[i].value, strlen(p->entries[i].value));
        free(p->entries[i].value);
    }
    for (size_t i = 0; i < p->name_count; i++) free(p->names[i]);
    free(p->entries);
    free(p->names);
    p->entries = NULL;
    p->names = NULL;
    p->count = p->name_count = 0;
}
