/* .env files: KEY=VALUE lines loaded into the environment before a script runs. */
#ifndef DDBRUN_DOTENV_H
#define DDBRUN_DOTENV_H

#include <stddef.h>

/* Called once per assignment; value is NUL-terminated and only valid during the call.
 * Return non-zero to stop parsing (dotenv_parse then returns -1 with err untouched). */
typedef int (*dotenv_fn)(void *ud, const char *key, const char *value);

/* Parses text (len bytes) in .env syntax: blank lines and # comments, an
 * optional `export ` prefix, KEY=value with the value unquoted (trimmed, a
 * " #" starts a comment), 'single-quoted' (literal) or "double-quoted" (with
 * \n \t \r \" \\ escapes). Returns 0, or -1 with "FILE:LINE: problem" in err. */
int dotenv_parse(const char *text, size_t len, const char *filename,
                 dotenv_fn fn, void *ud, char *err, size_t errlen);

/* The same with a work buffer of at least len + 2 bytes from the caller, who
 * frees it: for a caller whose fn may not return (a Lua error). */
int dotenv_parse_in(const char *text, size_t len, const char *filename, char *buf,
                    dotenv_fn fn, void *ud, char *err, size_t errlen);

/* Reads path and sets every key that is not already in the environment (real
 * environment variables win). Returns 0, or -1 with a message in err; a file
 * with an error sets nothing. */
int dotenv_load(const char *path, char *err, size_t errlen);

#endif
