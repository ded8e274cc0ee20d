/* Typed settings described once, in a table per object, and set either from
 * a Lua options table (by name, see bind_apply_options in bind.h) or from the
 * environment (by variable name). No Lua here. */
#ifndef DDBRUN_OPTIONS_H
#define DDBRUN_OPTIONS_H

#include <stddef.h>

typedef enum {
    OPTION_WHOLE,     /* a long within [min, max] */
    OPTION_NUMBER,    /* a double within [min, max] */
    OPTION_BOOLEAN,   /* an int, 0 or 1 */
    OPTION_STRING,    /* a char[size], NUL-terminated */
    OPTION_CHOICE     /* an int: the index of the value in choices */
} option_type;

typedef struct option_spec {
    const char *name;              /* as Lua code names it: "max_workers" */
    const char *env;               /* its environment variable, or NULL for none */
    option_type type;
    size_t offset;                 /* of the field it sets in the settings struct */
    double min, max;               /* WHOLE, NUMBER */
    double fallback;               /* WHOLE, NUMBER, BOOLEAN, CHOICE: the default */
    size_t size;                   /* STRING: the size of the char array */
    const char *const *choices;    /* CHOICE: the accepted texts, NULL-terminated */
} option_spec;

/* A table of specs, as the functions below take it. */
typedef struct option_table {
    const option_spec *specs;
    size_t count;
} option_table;

#define OPTION_TABLE(specs) { specs, sizeof specs / sizeof *specs }

/* Shorthands for the rows. */
#define OPTION_WHOLE_SPEC(name, env, type_, field, lo, hi, dflt) \
    { name, env, OPTION_WHOLE, offsetof(type_, field), lo, hi, dflt, 0, NULL }
#define OPTION_NUMBER_SPEC(name, env, type_, field, lo, hi, dflt) \
    { name, env, OPTION_NUMBER, offsetof(type_, field), lo, hi, dflt, 0, NULL }
#define OPTION_BOOLEAN_SPEC(name, env, type_, field, dflt) \
    { name, env, OPTION_BOOLEAN, offsetof(type_, field), 0, 1, dflt, 0, NULL }
#define OPTION_STRING_SPEC(name, env, type_, field) \
    { name, env, OPTION_STRING, offsetof(type_, field), 0, 0, 0, sizeof ((type_ *)0)->field, NULL }

/* The option called name in table, or NULL. */
const option_spec *options_find(const option_table *table, const char *name);

/* Sets every option of table in the struct at base to its default (strings
 * to ""). */
void options_defaults(void *base, const option_table *table);

/* Sets every option whose environment variable is set and not empty. Returns
 * 0, or -1 with "VARIABLE must be ..., not 'text'" in err. */
int options_from_env(void *base, const option_table *table, char *err, size_t errlen);

/* Setters for one option, checking its type's rules. label names it in err
 * ("ddb.client: option 'max_attempts'"). Return 0, or -1 with "<label> must
 * be a whole number from 1 to 100" (or the type's rule) in err. */
int options_set_whole(void *base, const option_spec *opt, long long v, const char *label, char *err, size_t errlen);
int options_set_number(void *base, const option_spec *opt, double v, const char *label, char *err, size_t errlen);
void options_set_boolean(void *base, const option_spec *opt, int v);
int options_set_string(void *base, const option_spec *opt, const char *v, size_t len, const char *label,
                       char *err, size_t errlen);
int options_set_choice(void *base, const option_spec *opt, const char *v, const char *label, char *err,
                       size_t errlen);

/* Parses text, all of it, as a whole decimal number from min to max into
 * *out: 0, or -1 (out unchanged). For settings outside an option table. */
int options_parse_whole(const char *text, long long min, long long max, long long *out);

/* Writes "<label> must be <the rule of opt>" into err (for a value of the
 * wrong Lua type). */
void options_rule(const option_spec *opt, const char *label, char *err, size_t errlen);

#endif
