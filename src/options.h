/* Whole-number settings described once, in a table, and set either from a
 * Lua options table (by name) or from the environment (by variable name). */
#ifndef DDBRUN_OPTIONS_H
#define DDBRUN_OPTIONS_H

#include <stddef.h>

typedef struct option_spec {
    const char *name;      /* as Lua code names it: "max_workers" */
    const char *env;       /* its environment variable: "PROCESSOR_MAX_WORKERS" */
    long min, max;
    long fallback;         /* the default, set by options_from_env */
    size_t offset;         /* of the long it sets in the settings struct */
} option_spec;

/* Sets option `name` of the struct at base to v. Returns 1 when set, 0 when
 * the table has no such option, -1 with err set ("<label> must be a whole
 * number from A to B") when v is out of range. */
int options_set(void *base, const option_spec *table, size_t count, const char *name, long v,
                const char *label, char *err, size_t errlen);

/* Sets every option to its fallback, then to its environment variable when
 * that is set. Returns 0, or -1 with the variable named in err. */
int options_from_env(void *base, const option_spec *table, size_t count, char *err, size_t errlen);

#endif
