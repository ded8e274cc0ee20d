#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static long *slot(void *base, const option_spec *opt)
{
    return (long *)((char *)base + opt->offset);
}

int options_set(void *base, const option_spec *table, size_t count, const char *name, long v,
                const char *label, char *err, size_t errlen)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(table[i].name, name) != 0) continue;
        if (v < table[i].min || v > table[i].max) {
            snprintf(err, errlen, "%s must be a whole number from %ld to %ld", label, table[i].min, table[i].max);
            return -1;
        }
        *slot(base, &table[i]) = v;
        return 1;
    }
    return 0;
}

int options_from_env(void *base, const option_spec *table, size_t count, char *err, size_t errlen)
{
    for (size_t i = 0; i < count; i++) {
        const option_spec *opt = &table[i];
        const char *v = getenv(opt->env);
        *slot(base, opt) = opt->fallback;
        if (v && *v && config_parse_long(opt->env, v, opt->min, opt->max, slot(base, opt), err, errlen) != 0)
            return -1;
    }
    return 0;
}
