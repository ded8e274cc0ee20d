/* Typed settings from a table; see options.h. */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "numtext.h"

static void *options_slot(void *base, const option_spec *opt)
{
    return (char *)base + opt->offset;
}

const option_spec *options_find(const option_table *table, const char *name)
{
    for (size_t i = 0; i < table->count; i++)
        if (table->specs[i].name && strcmp(table->specs[i].name, name) == 0)
            return &table->specs[i];
    return NULL;
}

void options_defaults(void *base, const option_table *table)
{
    for (size_t i = 0; i < table->count; i++) {
        const option_spec *opt = &table->specs[i];
        void *slot = options_slot(base, opt);
        if (opt->type == OPTION_WHOLE)
            *(long *)slot = (long)opt->fallback;
        else if (opt->type == OPTION_NUMBER)
            *(double *)slot = opt->fallback;
        else if (opt->type == OPTION_STRING)
            ((char *)slot)[0] = '\0';
        else
            *(int *)slot = (int)opt->fallback;
    }
}

/* min/max as text, whatever the locale: "1", "10", "0.5". */
static const char *options_number_text(double d, char *buf, size_t size)
{
    if (numtext_format_double(d, buf, size) < 0)
        snprintf(buf, size, "?");
    return buf;
}

static void options_choices_text(const option_spec *opt, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; opt->choices[i] && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", opt->choices[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

void options_rule(const option_spec *opt, const char *label, char *err, size_t errlen)
{
    char lo[48];
    char hi[48];
    char list[256];
    switch (opt->type) {
    case OPTION_WHOLE:
        snprintf(err, errlen, "%s must be a whole number from %ld to %ld", label, (long)opt->min, (long)opt->max);
        break;
    case OPTION_NUMBER:
        snprintf(err, errlen, "%s must be a number from %s to %s", label,
                 options_number_text(opt->min, lo, sizeof lo), options_number_text(opt->max, hi, sizeof hi));
        break;
    case OPTION_BOOLEAN:
        snprintf(err, errlen, "%s must be true or false", label);
        break;
    case OPTION_STRING:
        snprintf(err, errlen, "%s must be a string", label);
        break;
    case OPTION_CHOICE:
        options_choices_text(opt, list, sizeof list);
        snprintf(err, errlen, "%s must be one of %s", label, list);
        break;
    }
}

int options_set_whole(void *base, const option_spec *opt, long long v, const char *label, char *err, size_t errlen)
{
    if (v < (long long)opt->min || v > (long long)opt->max) {
        options_rule(opt, label, err, errlen);
        return -1;
    }
    *(long *)options_slot(base, opt) = (long)v;
    return 0;
}

int options_set_number(void *base, const option_spec *opt, double v, const char *label, char *err, size_t errlen)
{
    if (!(v >= opt->min && v <= opt->max)) {
        options_rule(opt, label, err, errlen);
        return -1;
    }
    *(double *)options_slot(base, opt) = v;
    return 0;
}

void options_set_boolean(void *base, const option_spec *opt, int v)
{
    *(int *)options_slot(base, opt) = v != 0;
}

int options_set_string(void *base, const option_spec *opt, const char *v, size_t len, const char *label,
                       char *err, size_t errlen)
{
    if (strlen(v) != len) {
        snprintf(err, errlen, "%s holds a NUL byte", label);
        return -1;
    }
    if (len >= opt->size) {
        snprintf(err, errlen, "%s is too long (at most %zu bytes)", label, opt->size - 1);
        return -1;
    }
    memcpy(options_slot(base, opt), v, len + 1);
    return 0;
}

int options_set_choice(void *base, const option_spec *opt, const char *v, const char *label, char *err,
                       size_t errlen)
{
    for (int i = 0; opt->choices[i]; i++) {
        if (strcmp(opt->choices[i], v) == 0) {
            *(int *)options_slot(base, opt) = i;
            return 0;
        }
    }
    options_rule(opt, label, err, errlen);
    return -1;
}

/* 1, 0, or -1 when text is no boolean; "auto" keeps the default (2). */
static int options_boolean_text(const char *text)
{
    static const char *const yes[] = { "1", "true", "on", "yes" };
    static const char *const no[] = { "0", "false", "off", "no" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return 1;
        if (strcasecmp(text, no[i]) == 0)
            return 0;
    }
    return strcasecmp(text, "auto") == 0 ? 2 : -1;
}

int options_parse_whole(const char *text, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Sets opt from its variable's text. Returns 0 or -1 with err set. */
static int options_env_one(void *base, const option_spec *opt, const char *text, char *err, size_t errlen)
{
    double d;
    long long v;
    int rc = 0;
    int b;
    switch (opt->type) {
    case OPTION_WHOLE:
        rc = options_parse_whole(text, LLONG_MIN, LLONG_MAX, &v) < 0
                 ? -1
                 : options_set_whole(base, opt, v, opt->env, err, errlen);
        break;
    case OPTION_NUMBER:
        rc = numtext_to_double(text, &d) < 0 ? -1 : options_set_number(base, opt, d, opt->env, err, errlen);
        break;
    case OPTION_BOOLEAN:
        b = options_boolean_text(text);
        if (b == 0 || b == 1)
            options_set_boolean(base, opt, b);
        rc = b < 0 ? -1 : 0;
        break;
    case OPTION_STRING:
        return options_set_string(base, opt, text, strlen(text), opt->env, err, errlen);
    case OPTION_CHOICE:
        rc = options_set_choice(base, opt, text, opt->env, err, errlen);
        break;
    }
    if (rc == 0)
        return 0;
    options_rule(opt, opt->env, err, errlen);
    if (opt->type == OPTION_BOOLEAN)
        snprintf(err, errlen, "%s must be 1 or 0 (true/false, on/off, yes/no) or auto", opt->env);
    size_t used = strlen(err);
    snprintf(err + used, errlen - used, ", not '%.200s'", text);
    return -1;
}

int options_from_env(void *base, const option_table *table, char *err, size_t errlen)
{
    for (size_t i = 0; i < table->count; i++) {
        const option_spec *opt = &table->specs[i];
        const char *text = opt->env ? getenv(opt->env) : NULL;
        if (text && *text && options_env_one(base, opt, text, err, errlen) != 0)
            return -1;
    }
    return 0;
}
