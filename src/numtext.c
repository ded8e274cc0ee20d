/* DynamoDB number text with no Lua; see numtext.h. */
#include "numtext.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2^53: from here on, not every whole number is a double, and %.17g no longer
 * shows all the digits of the ones that are. */
#define NUMTEXT_EXACT_FROM 9007199254740992.0

/* A decimal number normalised as (-1)^neg * 0.digits * 10^point. */
typedef struct numtext_decimal {
    int neg;
    int ndigits;            /* no leading or trailing zeros; 0 for zero */
    char digits[NUMTEXT_MAX_DIGITS];
    long long point;
} numtext_decimal;

/* The reader's position in the text. */
typedef struct numtext_reader {
    const char *p;
    const char *end;
} numtext_reader;

static int numtext_isdigit_at(const numtext_reader *r)
{
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

static int numtext_peek(const numtext_reader *r)
{
    return r->p < r->end ? (unsigned char)*r->p : -1;
}

/* Reads a run of digits into d (the integer part when whole). Returns 0, or
 * -1 past 38 significant digits. */
static int numtext_digits(numtext_reader *r, numtext_decimal *d, int whole, long long *ip, long long *lead,
                          long long *pending)
{
    for (; numtext_isdigit_at(r); r->p++) {
        if (whole)
            (*ip)++;
        if (*r->p == '0') {
            if (d->ndigits > 0)
                (*pending)++;
            else
                (*lead)++;
            continue;
        }
        if (d->ndigits + *pending >= NUMTEXT_MAX_DIGITS)
            return -1;
        for (; *pending > 0; (*pending)--)
            d->digits[d->ndigits++] = '0';
        d->digits[d->ndigits++] = *r->p;
    }
    return 0;
}

/* Reads [eE][+-]?digits when present into *exp. Returns 0, or -1 when malformed. */
static int numtext_exponent(numtext_reader *r, long long *exp)
{
    int negative = 0;

    *exp = 0;
    if (numtext_peek(r) != 'e' && numtext_peek(r) != 'E')
        return 0;
    r->p++;
    if (numtext_peek(r) == '+' || numtext_peek(r) == '-') {
        negative = *r->p == '-';
        r->p++;
    }
    if (!numtext_isdigit_at(r))
        return -1;
    for (; numtext_isdigit_at(r); r->p++)
        if (*exp < 1000000000)
            *exp = *exp * 10 + (*r->p - '0');
    if (negative)
        *exp = -*exp;
    return 0;
}

/* Parses n bytes of DynamoDB number syntax. Returns 0, or -1 when it is not one. */
static int numtext_parse(const char *s, size_t n, numtext_decimal *d)
{
    numtext_reader r = { s, s + n };
    long long ip = 0;
    long long lead = 0;
    long long pending = 0;
    long long exp = 0;

    memset(d, 0, sizeof *d);
    if (numtext_peek(&r) == '-') {
        d->neg = 1;
        r.p++;
    }
    if (!numtext_isdigit_at(&r) || numtext_digits(&r, d, 1, &ip, &lead, &pending) < 0)
        return -1;
    if (numtext_peek(&r) == '.') {
        r.p++;
        if (!numtext_isdigit_at(&r) || numtext_digits(&r, d, 0, &ip, &lead, &pending) < 0)
            return -1;
    }
    if (numtext_exponent(&r, &exp) < 0 || r.p != r.end)
        return -1;
    if (d->ndigits == 0)
        d->neg = 0;
    else
        d->point = ip - lead + exp;
    return 0;
}

int numtext_valid(const char *s, size_t n)
{
    numtext_decimal d;

    return numtext_parse(s, n, &d) == 0;
}

int numtext_canonical(const char *s, size_t n, char *buf, size_t size)
{
    numtext_decimal d;
    int len;

    if (numtext_parse(s, n, &d) < 0)
        return -1;
    len = snprintf(buf, size, "%s%.*se%lld", d.neg ? "-" : "", d.ndigits, d.digits, d.point);
    return len >= 0 && (size_t)len < size ? len : -1;
}

static int numtext_equal(const numtext_decimal *a, const numtext_decimal *b)
{
    return a->neg == b->neg && a->ndigits == b->ndigits && a->point == b->point &&
           memcmp(a->digits, b->digits, (size_t)a->ndigits) == 0;
}

/* printf and strtod follow the thread's locale: switch this thread to "C" for
 * the call (glibc hands out its static C locale object for this). When that
 * fails the thread keeps its locale, which is "C" unless a script changed it. */
static locale_t numtext_enter_c(locale_t *saved)
{
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);

    *saved = c ? uselocale(c) : (locale_t)0;
    return c;
}

static void numtext_leave_c(locale_t c, locale_t saved)
{
    if (!c)
        return;
    uselocale(saved);
    freelocale(c);
}

static double numtext_strtod(const char *s)
{
    locale_t saved;
    locale_t c = numtext_enter_c(&saved);
    double d = strtod(s, NULL);

    numtext_leave_c(c, saved);
    return d;
}

int numtext_to_double(const char *s, double *out)
{
    if (!numtext_valid(s, strlen(s)))
        return -1;
    *out = numtext_strtod(s);
    return 0;
}

/* Every digit of a whole-number double at or past 2^53, when they are at most
 * 38 significant ones. Returns the length written to tmp, or -1. */
static int numtext_whole(double d, char *tmp, size_t size)
{
    int len;
    int zeros = 0;

    if (fabs(d) < NUMTEXT_EXACT_FROM || d != floor(d) || fabs(d) >= 1e39)
        return -1;
    len = snprintf(tmp, size, "%.0f", d);
    if (len <= 0 || (size_t)len >= size)
        return -1;
    while (zeros < len && tmp[len - 1 - zeros] == '0')
        zeros++;
    return len - zeros - (d < 0) <= NUMTEXT_MAX_DIGITS ? len : -1;
}

static void numtext_shortest(double d, char *tmp, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, size, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            return;
    }
}

/* numtext_format_double on a thread already in the "C" locale. */
static int numtext_format_in_c(double d, char *buf, size_t size)
{
    char tmp[64];
    size_t len;

    if (!isfinite(d))
        return -1;
    if (d == 0)
        strcpy(tmp, "0");
    else if (numtext_whole(d, tmp, sizeof tmp) < 0)
        numtext_shortest(d, tmp, sizeof tmp);
    len = strlen(tmp);
    if (!buf || len >= size)
        return -1;
    memcpy(buf, tmp, len + 1);
    return (int)len;
}

int numtext_format_double(double d, char *buf, size_t size)
{
    locale_t saved;
    locale_t c;
    int len;

    if (!isfinite(d) || d == 0)   /* no printf: no locale to switch */
        return numtext_format_in_c(d, buf, size);
    c = numtext_enter_c(&saved);
    len = numtext_format_in_c(d, buf, size);

    numtext_leave_c(c, saved);
    return len;
}

static int numtext_int64(const numtext_decimal *m, long long *out)
{
    unsigned long long u = 0;

    if (m->point < m->ndigits || m->point > 19)
        return 0;
    for (long long k = 0; k < m->point; k++)
        u = u * 10 + (unsigned)(k < m->ndigits ? m->digits[k] - '0' : 0);
    if (!m->neg && u <= (unsigned long long)LLONG_MAX) {
        *out = (long long)u;
        return 1;
    }
    if (m->neg && u <= (unsigned long long)LLONG_MAX + 1) {
        *out = u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)u;
        return 1;
    }
    return 0;
}

numtext_kind numtext_classify(const char *s, size_t n, long long *i, double *d)
{
    numtext_decimal m;
    numtext_decimal f;
    long long iv;
    char text[128];
    char buf[64];
    double dv;
    int len;
    locale_t saved;
    locale_t c;

    if (!s || numtext_parse(s, n, &m) < 0)
        return NUMTEXT_INVALID;
    if (numtext_int64(&m, &iv)) {
        if (i)
            *i = iv;
        return NUMTEXT_INTEGER;
    }
    /* the normalised form is short whatever the text's zeros: 0.DIGITSePOINT */
    snprintf(text, sizeof text, "%s0.%.*se%lld", m.neg ? "-" : "", m.ndigits, m.digits, m.point);
    c = numtext_enter_c(&saved);   /* once for both calls: this runs for every non-integer read */
    dv = strtod(text, NULL);
    len = numtext_format_in_c(dv, buf, sizeof buf);
    numtext_leave_c(c, saved);
    if (len < 0 || numtext_parse(buf, (size_t)len, &f) < 0 || !numtext_equal(&m, &f))
        return NUMTEXT_EXACT;
    if (d)
        *d = dv;
    return NUMTEXT_FLOAT;
}
