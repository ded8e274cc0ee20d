/* DynamoDB number text, with no Lua: checking it, writing a double as the
 * shortest text that reads back as the same double (exact digits for whole
 * numbers), and choosing how a number's text is best held. Never depends on
 * the C locale: a callback calling os.setlocale changes nothing here. */
#ifndef DDBRUN_NUMTEXT_H
#define DDBRUN_NUMTEXT_H

#include <stddef.h>

/* DynamoDB keeps at most 38 significant digits. */
#define NUMTEXT_MAX_DIGITS 38

/* True when the n bytes at s are DynamoDB number syntax:
 * -?digits(.digits)?([eE][+-]?digits)? with at most 38 significant digits. */
int numtext_valid(const char *s, size_t n);

/* Writes a canonical form of the valid number text s ("1.0", "1" and "10e-1"
 * all give the same) into buf, for comparing numbers by value. Returns the
 * length, or -1 when s is not valid or buf is too small. */
int numtext_canonical(const char *s, size_t n, char *buf, size_t size);

/* The text of d: a whole number within 38 significant digits in all its
 * digits (2^60 -> "1152921504606846976"), otherwise the shortest of
 * %.15g/%.16g/%.17g that reads back as exactly d (0.1 -> "0.1", 3.0 -> "3").
 * -0.0 gives "0": DynamoDB numbers have no negative zero. Returns the length,
 * or -1 for NaN/infinity or a too-small buffer. */
int numtext_format_double(double d, char *buf, size_t size);

/* Reads the NUL-terminated number text s (DynamoDB syntax) as a double.
 * Returns 0, or -1 when s is not a number. */
int numtext_to_double(const char *s, double *out);

typedef enum { NUMTEXT_INTEGER, NUMTEXT_FLOAT, NUMTEXT_EXACT, NUMTEXT_INVALID } numtext_kind;

/* How a DynamoDB number's text (n bytes at s) is best held in Lua: INTEGER
 * (fits int64, *i set), FLOAT (the double prints back as the same number, *d
 * set), EXACT (keep the text), or INVALID (not number syntax). i and d may be
 * NULL. */
numtext_kind numtext_classify(const char *s, size_t n, long long *i, double *d);

#endif
