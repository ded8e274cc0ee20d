#include "dotenv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dotenv_line {
    const char *p, *end;   /* the rest of the line being parsed */
    char *out;             /* where the unquoted value is written */
    size_t out_len;
} dotenv_line;

static void dotenv_skip_blanks(dotenv_line *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t')) l->p++;
}

static int dotenv_rest_is_comment(dotenv_line *l)
{
    dotenv_skip_blanks(l);
    return l->p == l->end || *l->p == '#';
}

static const char *dotenv_parse_single_quoted(dotenv_line *l)
{
    for (l->p++; l->p < l->end && *l->p != '\''; l->p++) l->out[l->out_len++] = *l->p;
    if (l->p == l->end) return "unterminated single quote";
    l->p++;
    return dotenv_rest_is_comment(l) ? NULL : "unexpected text after closing quote";
}

static char dotenv_unescape(char c)
{
    switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    default: return c;  /* \" \\ \$ and unknown escapes keep the character */
    }
}

static const char *dotenv_parse_double_quoted(dotenv_line *l)
{
    for (l->p++; l->p < l->end && *l->p != '"'; l->p++) {
        if (*l->p == '\\' && l->p + 1 < l->end) {
            l->p++;
            l->out[l->out_len++] = dotenv_unescape(*l->p);
        } else {
            l->out[l->out_len++] = *l->p;
        }
    }
    if (l->p == l->end) return "unterminated double quote";
    l->p++;
    return dotenv_rest_is_comment(l) ? NULL : "unexpected text after closing quote";
}

static const char *dotenv_parse_unquoted(dotenv_line *l)
{
    const char *start = l->p, *stop = l->p;
    for (; l->p < l->end; l->p++) {
        if (*l->p == '#' && (l->p == start || l->p[-1] == ' ' || l->p[-1] == '\t')) break;
        if (*l->p != ' ' && *l->p != '\t') stop = l->p + 1;
    }
    memcpy(l->out, start, (size_t)(stop - start));
    l->out_len = (size_t)(stop - start);
    return NULL;
}

static int dotenv_is_key_char(char c, int first)
{
    return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

/* Parses one non-blank line into key and value (both written into buf, which
 * is at least as long as the line plus two). Returns NULL or the problem. */
static const char *dotenv_parse_line(const char *p, const char *end, char *buf,
                              const char **key, const char **value)
{
    dotenv_line l = { p, end, NULL, 0 };
    dotenv_skip_blanks(&l);
    if (end - l.p > 7 && strncmp(l.p, "export", 6) == 0 && (l.p[6] == ' ' || l.p[6] == '\t')) {
        l.p += 7;
        dotenv_skip_blanks(&l);
    }
    const char *k = l.p;
    while (l.p < l.end && dotenv_is_key_char(*l.p, l.p == k)) l.p++;
    size_t klen = (size_t)(l.p - k);
    if (klen == 0) return "expected KEY=VALUE (a key is letters, digits and _, not starting with a digit)";
    dotenv_skip_blanks(&l);
    if (l.p == l.end || *l.p != '=') return "expected '=' after the key";
    l.p++;
    dotenv_skip_blanks(&l);
    memcpy(buf, k, klen);
    buf[klen] = '\0';
    l.out = buf + klen + 1;
    const char *problem = l.p < l.end && *l.p == '\'' ? dotenv_parse_single_quoted(&l)
                        : l.p < l.end && *l.p == '"' ? dotenv_parse_double_quoted(&l)
                        : dotenv_parse_unquoted(&l);
    l.out[l.out_len] = '\0';
    *key = buf;
    *value = l.out;
    return problem;
}

static int dotenv_is_blank_or_comment(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p)) p++;
    return p == end || *p == '#';
}

int dotenv_parse(const char *text, size_t len, const char *filename,
                 dotenv_fn fn, void *ud, char *err, size_t errlen)
{
    char *buf = malloc(len + 2);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", filename);
        return -1;
    }
    int rc = dotenv_parse_in(text, len, filename, buf, fn, ud, err, errlen);
    free(buf);
    return rc;
}

int dotenv_parse_in(const char *text, size_t len, const char *filename, char *buf,
                    dotenv_fn fn, void *ud, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    int rc = 0;
    for (int lineno = 1; p < end && rc == 0; lineno++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *stop = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (!dotenv_is_blank_or_comment(p, stop)) {
            const char *key, *value;
            const char *problem = dotenv_parse_line(p, stop, buf, &key, &value);
            if (problem) {
                snprintf(err, errlen, "%s:%d: %s", filename, lineno, problem);
                rc = -1;
            } else if (fn(ud, key, value) != 0) {
                rc = -1;
            }
        }
        p = eol + 1;
    }
    return rc;
}

static int dotenv_count_pair(void *ud, const char *key, const char *value)
{
    (void)key, (void)value;
    ++*(int *)ud;
    return 0;
}

static int dotenv_set_if_unset(void *ud, const char *key, const char *value)
{
    char *err = ud;
    if (setenv(key, value, 0) != 0) {
        snprintf(err, 256, "cannot set %s: %s", key, strerror(errno));
        return -1;
    }
    return 0;
}

static char *dotenv_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    while (text) {
        n += fread(text + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(text, cap *= 2);
        if (!bigger) free(text);
        text = bigger;
    }
    int failed = ferror(f);
    fclose(f);
    if (!text || failed) {
        snprintf(err, errlen, "%s: %s", path, text ? "read error" : "out of memory");
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

int dotenv_load(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = dotenv_read_file(path, &len, err, errlen);
    if (!text) return -1;
    int pairs = 0;
    /* Validate the whole file first so a bad line sets nothing. */
    int rc = dotenv_parse(text, len, path, dotenv_count_pair, &pairs, err, errlen);
    char setenv_err[256] = "";
    if (rc == 0 && dotenv_parse(text, len, path, dotenv_set_if_unset, setenv_err, err, errlen) != 0) {
        snprintf(err, errlen, "%s: %s", path, setenv_err);
        rc = -1;
    }
    free(text);
    return rc;
}
