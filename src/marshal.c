/* Plain Lua values <-> DynamoDB's typed JSON; see marshal.h. */
#include "marshal.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/evp.h>

#define MARSHAL_NULL_KEY   "ddb.null.sentinel" /* registry slot of the ddb.null userdata */
#define MARSHAL_MAX_DEPTH  32
#define MARSHAL_MAX_DIGITS 38
#define MARSHAL_PATH_SIZE  256
#define MARSHAL_B64_STACK  1024

/* Registry values fetched once per top-level call, at refs + MARSHAL_REF_*. */
enum {
    MARSHAL_REF_NULL, MARSHAL_REF_SET, MARSHAL_REF_BINARY, MARSHAL_REF_NUMBER,
    MARSHAL_REF_LIST, MARSHAL_REF_MAP, MARSHAL_REF_COUNT
};

/* How a value is converted while walking a request or a response. */
typedef enum {
    MARSHAL_ROLE_PLAIN,       /* plain JSON; its object keys choose their values' roles */
    MARSHAL_ROLE_FIELDS,      /* a request/response object; same, but must be an object */
    MARSHAL_ROLE_AV,          /* one AttributeValue */
    MARSHAL_ROLE_ITEM,        /* attribute map */
    MARSHAL_ROLE_ITEMS,       /* list of attribute maps */
    MARSHAL_ROLE_VALUES,      /* list of AttributeValues (PartiQL Parameters) */
    MARSHAL_ROLE_TABLES,      /* keyed by table name; values plain */
    MARSHAL_ROLE_TABLE_ITEMS, /* keyed by table name; values lists of items */
    MARSHAL_ROLE_BY_KEY       /* only as a child role: look the key up */
} marshal_role;

typedef struct {
    const char *key;
    marshal_role role;
} marshal_field;

static const marshal_field marshal_fields[] = {
    {"Item", MARSHAL_ROLE_ITEM},
    {"Key", MARSHAL_ROLE_ITEM},
    {"ExclusiveStartKey", MARSHAL_ROLE_ITEM},
    {"LastEvaluatedKey", MARSHAL_ROLE_ITEM},
    {"ExpressionAttributeValues", MARSHAL_ROLE_ITEM},
    {"Attributes", MARSHAL_ROLE_ITEM},
    {"ItemCollectionKey", MARSHAL_ROLE_ITEM},
    {"Items", MARSHAL_ROLE_ITEMS},
    {"Keys", MARSHAL_ROLE_ITEMS},
    {"Parameters", MARSHAL_ROLE_VALUES},
    {"RequestItems", MARSHAL_ROLE_TABLES},
    {"UnprocessedItems", MARSHAL_ROLE_TABLES},
    {"UnprocessedKeys", MARSHAL_ROLE_TABLES},
    {"Responses", MARSHAL_ROLE_TABLE_ITEMS},
};

typedef enum {
    MARSHAL_SHAPE_EMPTY, MARSHAL_SHAPE_MAP, MARSHAL_SHAPE_SEQ,
    MARSHAL_SHAPE_MIXED, MARSHAL_SHAPE_HOLES, MARSHAL_SHAPE_BADKEY
} marshal_shape_kind;

typedef struct {
    marshal_shape_kind kind;
    lua_Integer n;          /* number of entries */
    const char *badkey;     /* type of the first key that is neither string nor integer */
} marshal_shape;

/* A decimal number normalised as (-1)^neg * 0.digits * 10^point. */
typedef struct {
    int neg;
    int ndigits;            /* no leading or trailing zeros; 0 for zero */
    char digits[MARSHAL_MAX_DIGITS];
    long long point;
} marshal_decimal;

enum { MARSHAL_ELEM_S, MARSHAL_ELEM_N, MARSHAL_ELEM_B, MARSHAL_ELEM_BAD };

typedef struct {
    lua_State *L;
    int refs;
    char *err;
    size_t errlen;
    int av_depth;
    int plain_depth;
    int nseen;
    const void *seen[2 * MARSHAL_MAX_DEPTH + 2]; /* tables being converted, outermost first */
    size_t pathlen;
    char path[MARSHAL_PATH_SIZE];
} marshal_ctx;

static void marshal_init_registry(lua_State *L);

/* --- number text --- */

static int marshal_isdigit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Parses DynamoDB number syntax: -?digits(.digits)?([eE][+-]?digits)?, at
 * most 38 significant digits. Returns 0, or -1 when s is not a number. */
static int marshal_decimal_parse(const char *s, marshal_decimal *d)
{
    long long ip = 0, lead = 0, pending = 0, exp = 0;
    int nonzero = 0, expneg = 0;
    const char *p = s;

    d->neg = 0;
    d->ndigits = 0;
    d->point = 0;
    if (*p == '-') d->neg = 1, p++;
    if (!marshal_isdigit(*p)) return -1;
    for (int frac = 0; frac < 2; frac++) {
        if (frac) {
            if (*p != '.') break;
            if (!marshal_isdigit(*++p)) return -1;
        }
        for (; marshal_isdigit(*p); p++) {
            if (!frac) ip++;
            if (*p == '0') {
                if (nonzero) pending++;
                else lead++;
                continue;
            }
            if (d->ndigits + pending >= MARSHAL_MAX_DIGITS) return -1;
            for (; pending > 0; pending--) d->digits[d->ndigits++] = '0';
            d->digits[d->ndigits++] = *p;
            nonzero = 1;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') expneg = *p++ == '-';
        if (!marshal_isdigit(*p)) return -1;
        for (; marshal_isdigit(*p); p++)
            if (exp < 1000000000) exp = exp * 10 + (*p - '0');
    }
    if (*p) return -1;
    if (!nonzero) d->neg = 0;
    else d->point = ip - lead + (expneg ? -exp : exp);
    return 0;
}

static int marshal_decimal_equal(const marshal_decimal *a, const marshal_decimal *b)
{
    return a->neg == b->neg && a->ndigits == b->ndigits && a->point == b->point &&
           memcmp(a->digits, b->digits, (size_t)a->ndigits) == 0;
}

/* Assumes the C locale's decimal point, as Lua's own number parser does by default. */
int marshal_format_double(double d, char *buf, size_t size)
{
    char tmp[32];
    size_t len;

    if (!isfinite(d)) return -1;
    if (d == 0) {
        strcpy(tmp, "0");
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d) break;
        }
    }
    len = strlen(tmp);
    if (!buf || len >= size) return -1;
    memcpy(buf, tmp, len + 1);
    return (int)len;
}

static int marshal_decimal_int64(const marshal_decimal *m, long long *out)
{
    unsigned long long u = 0;

    if (m->point < m->ndigits || m->point > 19) return 0;
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

marshal_num_kind marshal_classify_number(const char *text, long long *i, double *d)
{
    marshal_decimal m, f;
    long long iv;
    char buf[32];
    double dv;

    if (!text || marshal_decimal_parse(text, &m) < 0) return MARSHAL_NUM_INVALID;
    if (marshal_decimal_int64(&m, &iv)) {
        if (i) *i = iv;
        return MARSHAL_NUM_INTEGER;
    }
    dv = strtod(text, NULL);
    if (marshal_format_double(dv, buf, sizeof buf) < 0 || marshal_decimal_parse(buf, &f) < 0 ||
        !marshal_decimal_equal(&m, &f))
        return MARSHAL_NUM_EXACT;
    if (d) *d = dv;
    return MARSHAL_NUM_FLOAT;
}

/* --- bytes --- */

int marshal_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], cp;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
        if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
        i += len;
    }
    return 1;
}

static int marshal_b64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || marshal_isdigit(ch) ||
           ch == '+' || ch == '/';
}

/* Padded standard base64; checked up front so that decoding cannot fail. */
static int marshal_b64_valid(const char *s, size_t n)
{
    size_t pad = 0;

    if (n % 4 != 0 || n > INT_MAX) return 0;
    if (n > 0 && s[n - 1] == '=') pad = n > 1 && s[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < n - pad; i++)
        if (!marshal_b64_char(s[i])) return 0;
    return 1;
}

/* --- errors and paths --- */

static json_t *marshal_fail(marshal_ctx *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (!c->err || c->errlen == 0) return NULL;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->pathlen) snprintf(c->err, c->errlen, "%s: %s", c->path, msg);
    else snprintf(c->err, c->errlen, "%s", msg);
    return NULL;
}

static json_t *marshal_oom(marshal_ctx *c)
{
    return marshal_fail(c, "out of memory");
}

/* Appends to the path; a path that does not fit ends in "...". */
static void marshal_path_put(marshal_ctx *c, const char *s, size_t n)
{
    size_t room;

    if (c->pathlen == sizeof c->path - 1) return;
    room = sizeof c->path - 4 - c->pathlen;
    if (n > room) {
        memcpy(c->path + c->pathlen, s, room);
        memcpy(c->path + sizeof c->path - 4, "...", 4);
        c->pathlen = sizeof c->path - 1;
        return;
    }
    memcpy(c->path + c->pathlen, s, n);
    c->pathlen += n;
    c->path[c->pathlen] = '\0';
}

static void marshal_path_restore(marshal_ctx *c, size_t len)
{
    c->pathlen = len;
    c->path[len] = '\0';
}

static int marshal_is_ident(const char *k, size_t len)
{
    if (len == 0 || marshal_isdigit(k[0])) return 0;
    for (size_t i = 0; i < len; i++)
        if (!(k[i] == '_' || marshal_isdigit(k[i]) || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= 'a' && k[i] <= 'z')))
            return 0;
    return 1;
}

/* Appends .key, or ["key"] with Lua escapes when key is not an identifier. */
static size_t marshal_path_key(marshal_ctx *c, const char *k, size_t len)
{
    size_t saved = c->pathlen;
    int utf8 = marshal_utf8_valid(k, len);

    if (marshal_is_ident(k, len)) {
        if (c->pathlen) marshal_path_put(c, ".", 1);
        marshal_path_put(c, k, len);
        return saved;
    }
    marshal_path_put(c, "[\"", 2);
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)k[i];
        char esc[8];
        if (b == '"' || b == '\\') {
            esc[0] = '\\', esc[1] = (char)b;
            marshal_path_put(c, esc, 2);
        } else if (b < 0x20 || b == 0x7F || (b >= 0x80 && !utf8)) {
            snprintf(esc, sizeof esc, "\\%03u", b);
            marshal_path_put(c, esc, 4);
        } else {
            marshal_path_put(c, k + i, 1);
        }
    }
    marshal_path_put(c, "\"]", 2);
    return saved;
}

static size_t marshal_path_index(marshal_ctx *c, lua_Integer i)
{
    size_t saved = c->pathlen;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "[%lld]", (long long)i);

    marshal_path_put(c, buf, (size_t)n);
    return saved;
}

/* --- Lua side helpers (none of these raise) --- */

static int marshal_table_kind(marshal_ctx *c, int idx)
{
    lua_State *L = c->L;

    if (!lua_getmetatable(L, idx)) return -1;
    for (int k = MARSHAL_REF_SET; k <= MARSHAL_REF_MAP; k++) {
        if (lua_rawequal(L, -1, c->refs + k)) {
            lua_pop(L, 1);
            return k;
        }
    }
    lua_pop(L, 1);
    return -1;
}

static const char *marshal_kind_name(int kind)
{
    switch (kind) {
    case MARSHAL_REF_SET: return "ddb.set";
    case MARSHAL_REF_BINARY: return "ddb.binary";
    case MARSHAL_REF_NUMBER: return "ddb.number";
    default: return "table";
    }
}

static void marshal_shape_scan(lua_State *L, int idx, marshal_shape *s)
{
    lua_Integer n = 0, nstr = 0, max = 0;
    int positive = 1;

    s->badkey = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
        if (lua_type(L, -1) == LUA_TSTRING) {
            nstr++;
        } else if (lua_isinteger(L, -1)) {
            lua_Integer k = lua_tointeger(L, -1);
            if (k < 1) positive = 0;
            else if (k > max) max = k;
        } else {
            s->badkey = lua_type(L, -1) == LUA_TNUMBER ? "float" : luaL_typename(L, -1);
            s->kind = MARSHAL_SHAPE_BADKEY;
            lua_pop(L, 1);
            return;
        }
    }
    s->n = n;
    if (n == 0) s->kind = MARSHAL_SHAPE_EMPTY;
    else if (nstr == n) s->kind = MARSHAL_SHAPE_MAP;
    else if (nstr > 0) s->kind = MARSHAL_SHAPE_MIXED;
    else if (positive && max == n) s->kind = MARSHAL_SHAPE_SEQ;  /* n distinct keys in 1..n */
    else s->kind = MARSHAL_SHAPE_HOLES;
}

/* want: 'M' (string keys), 'L' (keys 1..n) or 0 (either). */
static int marshal_shape_fits(const marshal_shape *s, int want)
{
    return s->kind == MARSHAL_SHAPE_EMPTY || (s->kind == MARSHAL_SHAPE_MAP && want != 'L') ||
           (s->kind == MARSHAL_SHAPE_SEQ && want != 'M');
}

static json_t *marshal_shape_fail(marshal_ctx *c, const marshal_shape *s, int want)
{
    const char *rule = want == 'M' ? "maps need string keys" :
                       want == 'L' ? "lists need keys 1..n" : "maps need string keys, lists keys 1..n";

    if (s->kind == MARSHAL_SHAPE_BADKEY) return marshal_fail(c, "table has a %s key: %s", s->badkey, rule);
    if (s->kind == MARSHAL_SHAPE_MIXED) return marshal_fail(c, "table mixes string and integer keys: %s", rule);
    if (want == 'M') return marshal_fail(c, "table has integer keys: %s", rule);
    if (s->kind == MARSHAL_SHAPE_MAP) return marshal_fail(c, "table has string keys: %s", rule);
    return marshal_fail(c, "table keys are not a sequence 1..n: %s", rule);
}

/* Cycles are caught against the tables being converted; depth per kind of nesting. */
static int marshal_enter(marshal_ctx *c, int idx, int *depth)
{
    const void *p = lua_topointer(c->L, idx);

    for (int k = 0; k < c->nseen; k++) {
        if (c->seen[k] == p) {
            marshal_fail(c, "cyclic table (it contains itself)");
            return -1;
        }
    }
    if (*depth >= MARSHAL_MAX_DEPTH || c->nseen == (int)(sizeof c->seen / sizeof c->seen[0])) {
        marshal_fail(c, "nested deeper than %d levels", MARSHAL_MAX_DEPTH);
        return -1;
    }
    if (!lua_checkstack(c->L, 8)) {
        marshal_fail(c, "Lua stack exhausted");
        return -1;
    }
    (*depth)++;
    c->seen[c->nseen++] = p;
    return 0;
}

static void marshal_leave(marshal_ctx *c, int *depth)
{
    (*depth)--;
    c->nseen--;
}

/* Pushes the value field of a ddb.binary/ddb.number; NULL (nothing pushed) when it is not a string. */
static const char *marshal_boxed_value(lua_State *L, int idx, size_t *len)
{
    lua_pushliteral(L, "value");
    lua_rawget(L, idx);
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        return NULL;
    }
    return lua_tolstring(L, -1, len);
}

static marshal_role marshal_key_role(const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof marshal_fields / sizeof marshal_fields[0]; i++)
        if (strlen(marshal_fields[i].key) == len && memcmp(marshal_fields[i].key, key, len) == 0)
            return marshal_fields[i].role;
    return MARSHAL_ROLE_PLAIN;
}

static marshal_role marshal_object_child(marshal_role role)
{
    switch (role) {
    case MARSHAL_ROLE_ITEM: return MARSHAL_ROLE_AV;
    case MARSHAL_ROLE_TABLES: return MARSHAL_ROLE_PLAIN;
    case MARSHAL_ROLE_TABLE_ITEMS: return MARSHAL_ROLE_ITEMS;
    default: return MARSHAL_ROLE_BY_KEY;
    }
}

static marshal_role marshal_array_child(marshal_role role)
{
    switch (role) {
    case MARSHAL_ROLE_ITEMS: return MARSHAL_ROLE_ITEM;
    case MARSHAL_ROLE_VALUES: return MARSHAL_ROLE_AV;
    default: return MARSHAL_ROLE_PLAIN;
    }
}

/* --- Lua -> JSON: scalars --- */

static json_t *marshal_wrap(marshal_ctx *c, const char *type, json_t *v)
{
    json_t *o;

    if (!v) return NULL;
    o = json_object();
    if (json_object_set_new_nocheck(o, type, v) < 0) {   /* steals v even on failure */
        json_decref(o);
        return marshal_oom(c);
    }
    return o;
}

static json_t *marshal_string(marshal_ctx *c, int idx)
{
    size_t len;
    const char *s = lua_tolstring(c->L, idx, &len);
    json_t *v;

    if (!marshal_utf8_valid(s, len))
        return marshal_fail(c, "string is not valid UTF-8 (use ddb.binary for bytes)");
    v = json_stringn_nocheck(s, len);
    return v ? v : marshal_oom(c);
}

static int marshal_finite(marshal_ctx *c, double d)
{
    if (isnan(d)) marshal_fail(c, "NaN cannot be stored");
    else if (isinf(d)) marshal_fail(c, d > 0 ? "infinity cannot be stored" : "-infinity cannot be stored");
    else return 1;
    return 0;
}

/* The N text of a Lua number or a ddb.number, as a JSON string. */
static json_t *marshal_number_text(marshal_ctx *c, int idx)
{
    lua_State *L = c->L;
    char buf[32];
    int n;
    json_t *v;

    if (lua_type(L, idx) == LUA_TTABLE) {
        size_t len;
        marshal_decimal d;
        const char *s = marshal_boxed_value(L, idx, &len);
        if (!s) return marshal_fail(c, "malformed ddb.number (value is not a string)");
        if (strlen(s) != len || marshal_decimal_parse(s, &d) < 0) {
            marshal_fail(c, "\"%.60s\" is not a DynamoDB number", s);
            lua_pop(L, 1);
            return NULL;
        }
        v = json_stringn_nocheck(s, len);
        lua_pop(L, 1);
        return v ? v : marshal_oom(c);
    }
    if (lua_isinteger(L, idx)) {
        n = snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
    } else {
        double d = lua_tonumber(L, idx);
        if (!marshal_finite(c, d)) return NULL;
        n = marshal_format_double(d, buf, sizeof buf);
    }
    v = json_stringn_nocheck(buf, (size_t)n);
    return v ? v : marshal_oom(c);
}

static json_t *marshal_base64(marshal_ctx *c, const char *s, size_t len)
{
    char stackbuf[MARSHAL_B64_STACK];
    char *buf = stackbuf;
    size_t need;
    int n;
    json_t *v;

    if (len > (size_t)INT_MAX / 4 * 3) return marshal_fail(c, "binary value too large");
    need = (len + 2) / 3 * 4 + 1;
    if (need > sizeof stackbuf && !(buf = malloc(need))) return marshal_oom(c);
    n = EVP_EncodeBlock((unsigned char *)buf, (const unsigned char *)s, (int)len);
    v = json_stringn_nocheck(buf, (size_t)n);
    if (buf != stackbuf) free(buf);
    return v ? v : marshal_oom(c);
}

/* The base64 text of a ddb.binary, as a JSON string. */
static json_t *marshal_binary(marshal_ctx *c, int idx)
{
    size_t len;
    const char *s = marshal_boxed_value(c->L, idx, &len);
    json_t *v;

    if (!s) return marshal_fail(c, "malformed ddb.binary (value is not a string)");
    v = marshal_base64(c, s, len);
    lua_pop(c->L, 1);
    return v;
}

/* --- Lua -> JSON: sets --- */

static int marshal_elem_kind(marshal_ctx *c, int idx)
{
    switch (lua_type(c->L, idx)) {
    case LUA_TSTRING: return MARSHAL_ELEM_S;
    case LUA_TNUMBER: return MARSHAL_ELEM_N;
    case LUA_TTABLE:
        switch (marshal_table_kind(c, idx)) {
        case MARSHAL_REF_NUMBER: return MARSHAL_ELEM_N;
        case MARSHAL_REF_BINARY: return MARSHAL_ELEM_B;
        default: return MARSHAL_ELEM_BAD;
        }
    default: return MARSHAL_ELEM_BAD;
    }
}

/* Converts one element and records it in seen; numbers are compared by value
 * (1, 1.0 and ddb.number("1.0") are the same element to DynamoDB). */
static json_t *marshal_set_elem(marshal_ctx *c, int idx, int kind, json_t *seen)
{
    char key[MARSHAL_MAX_DIGITS + 32];
    const char *k;
    size_t klen;
    json_t *e;

    if (kind == MARSHAL_ELEM_S) e = marshal_string(c, idx);
    else if (kind == MARSHAL_ELEM_N) e = marshal_number_text(c, idx);
    else e = marshal_binary(c, idx);
    if (!e) return NULL;
    k = json_string_value(e);
    klen = json_string_length(e);
    if (kind == MARSHAL_ELEM_N) {
        marshal_decimal d;
        marshal_decimal_parse(k, &d);   /* valid: checked or formatted above */
        klen = (size_t)snprintf(key, sizeof key, "%s%.*se%lld", d.neg ? "-" : "", d.ndigits,
                                d.digits, d.point);
        k = key;
    }
    if (json_object_getn(seen, k, klen)) {
        json_decref(e);
        return marshal_fail(c, "duplicate set element");
    }
    if (json_object_setn_new_nocheck(seen, k, klen, json_null()) < 0) {
        json_decref(e);
        return marshal_oom(c);
    }
    return e;
}

static const char *marshal_elem_plural(int kind)
{
    return kind == MARSHAL_ELEM_S ? "strings" : kind == MARSHAL_ELEM_N ? "numbers" : "binaries";
}

static json_t *marshal_set(marshal_ctx *c, int idx)
{
    static const char *const types[] = {"SS", "NS", "BS"};
    lua_State *L = c->L;
    int top = lua_gettop(L), kind = -1;
    marshal_shape s;
    json_t *arr, *seen;

    if (!lua_checkstack(L, 8)) return marshal_fail(c, "Lua stack exhausted");
    marshal_shape_scan(L, idx, &s);
    if (s.kind == MARSHAL_SHAPE_EMPTY) return marshal_fail(c, "a set cannot be empty");
    if (s.kind != MARSHAL_SHAPE_SEQ) return marshal_fail(c, "set elements must be at keys 1..n");
    arr = json_array();
    seen = json_object();
    if (!arr || !seen) {
        marshal_oom(c);
        goto fail;
    }
    for (lua_Integer i = 1; i <= s.n; i++) {
        size_t saved;
        int k;
        json_t *e;
        lua_rawgeti(L, idx, i);
        k = marshal_elem_kind(c, -1);
        if (k != MARSHAL_ELEM_BAD && kind >= 0 && k != kind) {
            marshal_fail(c, "set mixes %s and %s", marshal_elem_plural(kind), marshal_elem_plural(k));
            goto fail;
        }
        saved = marshal_path_index(c, i);
        if (k == MARSHAL_ELEM_BAD) {
            const char *what = lua_rawequal(L, -1, c->refs + MARSHAL_REF_NULL) ? "ddb.null" : luaL_typename(L, -1);
            marshal_fail(c, "set elements must be strings, numbers or ddb.binary, not %s", what);
            goto fail;
        }
        kind = k;
        e = marshal_set_elem(c, lua_gettop(L), k, seen);
        if (!e) goto fail;
        if (json_array_append_new(arr, e) < 0) {
            marshal_oom(c);
            goto fail;
        }
        marshal_path_restore(c, saved);
        lua_pop(L, 1);
    }
    json_decref(seen);
    return marshal_wrap(c, types[kind], arr);
fail:
    lua_settop(L, top);
    json_decref(arr);
    json_decref(seen);
    return NULL;
}

/* --- Lua -> JSON: containers --- */

static json_t *marshal_convert(marshal_ctx *c, int idx, marshal_role role);

/* The table at idx has only string keys. */
static json_t *marshal_object(marshal_ctx *c, int idx, marshal_role child)
{
    lua_State *L = c->L;
    int top = lua_gettop(L);
    json_t *obj = json_object();

    if (!obj) return marshal_oom(c);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen);
        size_t saved = marshal_path_key(c, k, klen);
        marshal_role role = child == MARSHAL_ROLE_BY_KEY ? marshal_key_role(k, klen) : child;
        json_t *v;
        if (!marshal_utf8_valid(k, klen)) {
            marshal_fail(c, "key is not valid UTF-8");
            goto fail;
        }
        if (!(v = marshal_convert(c, lua_gettop(L), role))) goto fail;
        if (json_object_setn_new_nocheck(obj, k, klen, v) < 0) {
            marshal_oom(c);
            goto fail;
        }
        marshal_path_restore(c, saved);
        lua_pop(L, 1);
    }
    return obj;
fail:
    lua_settop(L, top);
    json_decref(obj);
    return NULL;
}

/* The table at idx has keys 1..n. */
static json_t *marshal_array(marshal_ctx *c, int idx, lua_Integer n, marshal_role child)
{
    lua_State *L = c->L;
    json_t *arr = json_array();

    if (!arr) return marshal_oom(c);
    for (lua_Integer i = 1; i <= n; i++) {
        size_t saved = marshal_path_index(c, i);
        json_t *v;
        lua_rawgeti(L, idx, i);
        v = marshal_convert(c, lua_gettop(L), child);
        lua_pop(L, 1);
        if (!v) goto fail;
        if (json_array_append_new(arr, v) < 0) {
            marshal_oom(c);
            goto fail;
        }
        marshal_path_restore(c, saved);
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

/* A table as L or M; want is 'L'/'M' for ddb.list/ddb.map, else 0. */
static json_t *marshal_av_container(marshal_ctx *c, int idx, int want)
{
    marshal_shape s;
    json_t *v;

    if (marshal_enter(c, idx, &c->av_depth) < 0) return NULL;
    marshal_shape_scan(c->L, idx, &s);
    if (!marshal_shape_fits(&s, want))
        v = marshal_shape_fail(c, &s, want);
    else if (s.kind == MARSHAL_SHAPE_SEQ || (s.kind == MARSHAL_SHAPE_EMPTY && want == 'L'))
        v = marshal_wrap(c, "L", marshal_array(c, idx, s.n, MARSHAL_ROLE_AV));
    else
        v = marshal_wrap(c, "M", marshal_object(c, idx, MARSHAL_ROLE_AV));
    marshal_leave(c, &c->av_depth);
    return v;
}

static json_t *marshal_av(marshal_ctx *c, int idx)
{
    lua_State *L = c->L;

    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return marshal_wrap(c, "S", marshal_string(c, idx));
    case LUA_TNUMBER: return marshal_wrap(c, "N", marshal_number_text(c, idx));
    case LUA_TBOOLEAN: return marshal_wrap(c, "BOOL", json_boolean(lua_toboolean(L, idx)));
    case LUA_TNIL: return marshal_fail(c, "nil cannot be stored (use ddb.null)");
    case LUA_TUSERDATA:
        if (lua_rawequal(L, idx, c->refs + MARSHAL_REF_NULL)) return marshal_wrap(c, "NULL", json_true());
        break;
    case LUA_TTABLE:
        switch (marshal_table_kind(c, idx)) {
        case MARSHAL_REF_SET: return marshal_set(c, idx);
        case MARSHAL_REF_BINARY: return marshal_wrap(c, "B", marshal_binary(c, idx));
        case MARSHAL_REF_NUMBER: return marshal_wrap(c, "N", marshal_number_text(c, idx));
        case MARSHAL_REF_LIST: return marshal_av_container(c, idx, 'L');
        case MARSHAL_REF_MAP: return marshal_av_container(c, idx, 'M');
        default: return marshal_av_container(c, idx, 0);
        }
    default: break;
    }
    return marshal_fail(c, "unsupported value of type %s", luaL_typename(L, idx));
}

/* A table in a request: plain JSON, or item-shaped as role demands. */
static json_t *marshal_plain_table(marshal_ctx *c, int idx, marshal_role role)
{
    int kind = marshal_table_kind(c, idx);
    int want = kind == MARSHAL_REF_LIST ? 'L' : kind == MARSHAL_REF_MAP ? 'M' : 0;
    marshal_shape s;
    json_t *v;

    if (kind == MARSHAL_REF_SET || kind == MARSHAL_REF_BINARY || kind == MARSHAL_REF_NUMBER)
        return marshal_fail(c, "a %s is only allowed as an attribute value", marshal_kind_name(kind));
    if (role == MARSHAL_ROLE_ITEM || role == MARSHAL_ROLE_FIELDS) {
        if (kind == MARSHAL_REF_LIST) return marshal_fail(c, "a ddb.list is not a map");
        want = 'M';
    } else if (role == MARSHAL_ROLE_ITEMS || role == MARSHAL_ROLE_VALUES) {
        if (kind == MARSHAL_REF_MAP) return marshal_fail(c, "a ddb.map is not a list");
        want = 'L';
    }
    if (marshal_enter(c, idx, &c->plain_depth) < 0) return NULL;
    marshal_shape_scan(c->L, idx, &s);
    if (!marshal_shape_fits(&s, want))
        v = marshal_shape_fail(c, &s, want);
    else if (s.kind == MARSHAL_SHAPE_SEQ || (s.kind == MARSHAL_SHAPE_EMPTY && want == 'L'))
        v = marshal_array(c, idx, s.n, marshal_array_child(role));
    else
        v = marshal_object(c, idx, marshal_object_child(role));
    marshal_leave(c, &c->plain_depth);
    return v;
}

static json_t *marshal_plain(marshal_ctx *c, int idx, marshal_role role)
{
    lua_State *L = c->L;
    json_t *v;

    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return marshal_string(c, idx);
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!marshal_finite(c, d)) return NULL;
            v = json_real(d);
        }
        return v ? v : marshal_oom(c);
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TUSERDATA:
        if (lua_rawequal(L, idx, c->refs + MARSHAL_REF_NULL)) return json_null();
        break;
    case LUA_TTABLE: return marshal_plain_table(c, idx, role);
    default: break;
    }
    return marshal_fail(c, "unsupported value of type %s", luaL_typename(L, idx));
}

static json_t *marshal_convert(marshal_ctx *c, int idx, marshal_role role)
{
    return role == MARSHAL_ROLE_AV ? marshal_av(c, idx) : marshal_plain(c, idx, role);
}

/* --- Lua -> JSON: entry points --- */

/* Pushes the sentinel and the table metatables; returns the index of the first. */
static int marshal_push_refs(lua_State *L)
{
    luaL_checkstack(L, MARSHAL_REF_COUNT + 8, "marshal");
    if (lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        marshal_init_registry(L);
        lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY);
    }
    lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_SET_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_BINARY_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NUMBER_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_LIST_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_MAP_MT);
    return lua_gettop(L) - (MARSHAL_REF_COUNT - 1);
}

static void marshal_ctx_init(marshal_ctx *c, lua_State *L, const char *path, char *err, size_t errlen)
{
    c->L = L;
    c->err = err;
    c->errlen = errlen;
    c->av_depth = c->plain_depth = c->nseen = 0;
    c->pathlen = 0;
    c->path[0] = '\0';
    if (err && errlen) err[0] = '\0';
    if (path) marshal_path_put(c, path, strlen(path));
    c->refs = marshal_push_refs(L);
}

json_t *marshal_value(lua_State *L, int idx, const char *path, char *err, size_t errlen)
{
    marshal_ctx c;
    json_t *v;

    idx = lua_absindex(L, idx);
    marshal_ctx_init(&c, L, path, err, errlen);
    v = marshal_av(&c, idx);
    lua_settop(L, c.refs - 1);
    return v;
}

json_t *marshal_item(lua_State *L, int idx, const char *path, char *err, size_t errlen)
{
    marshal_ctx c;
    json_t *v;

    idx = lua_absindex(L, idx);
    marshal_ctx_init(&c, L, path, err, errlen);
    if (lua_type(L, idx) == LUA_TTABLE) v = marshal_plain_table(&c, idx, MARSHAL_ROLE_ITEM);
    else v = marshal_fail(&c, "an item must be a table, not %s", luaL_typename(L, idx));
    lua_settop(L, c.refs - 1);
    return v;
}

json_t *marshal_request(lua_State *L, int idx, char *err, size_t errlen)
{
    marshal_ctx c;
    json_t *v;

    idx = lua_absindex(L, idx);
    marshal_ctx_init(&c, L, NULL, err, errlen);
    if (lua_type(L, idx) == LUA_TTABLE) v = marshal_plain_table(&c, idx, MARSHAL_ROLE_FIELDS);
    else v = marshal_fail(&c, "a request must be a table, not %s", luaL_typename(L, idx));
    lua_settop(L, c.refs - 1);
    return v;
}

/* --- JSON -> Lua --- */

static void marshal_push_json(lua_State *L, int refs, const json_t *v, marshal_role role);

static int marshal_is(const char *k, size_t klen, const char *name)
{
    return strlen(name) == klen && memcmp(k, name, klen) == 0;
}

/* Wraps the string on top of the stack as {value = s} with the metatable at mt. */
static void marshal_box(lua_State *L, int mt)
{
    lua_createtable(L, 0, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "value");
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
}

static void marshal_push_ntext(lua_State *L, int refs, const json_t *n)
{
    const char *text = json_string_value(n);
    size_t len = json_string_length(n);
    long long i;
    double d;

    switch (strlen(text) == len ? marshal_classify_number(text, &i, &d) : MARSHAL_NUM_INVALID) {
    case MARSHAL_NUM_INTEGER: lua_pushinteger(L, (lua_Integer)i); break;
    case MARSHAL_NUM_FLOAT: lua_pushnumber(L, d); break;
    default:
        lua_pushlstring(L, text, len);
        marshal_box(L, refs + MARSHAL_REF_NUMBER);
    }
}

/* s is valid base64 (marshal_b64_valid). */
static void marshal_push_binary(lua_State *L, int refs, const json_t *b)
{
    const char *s = json_string_value(b);
    size_t len = json_string_length(b);

    if (len == 0) {
        lua_pushliteral(L, "");
    } else {
        luaL_Buffer buf;
        char *out = luaL_buffinitsize(L, &buf, len / 4 * 3);
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
        n -= (s[len - 1] == '=') + (s[len - 2] == '=');
        luaL_pushresultsize(&buf, (size_t)(n < 0 ? 0 : n));
    }
    marshal_box(L, refs + MARSHAL_REF_BINARY);
}

static void marshal_push_object(lua_State *L, int refs, const json_t *obj, marshal_role child)
{
    /* json_object_iter takes a non-const object but iterating does not modify it. */
    json_t *o = (json_t *)obj;

    luaL_checkstack(L, 4, "response nested too deeply");
    lua_createtable(L, 0, (int)json_object_size(o));
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        const char *k = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        lua_pushlstring(L, k, klen);
        marshal_push_json(L, refs, json_object_iter_value(it),
                          child == MARSHAL_ROLE_BY_KEY ? marshal_key_role(k, klen) : child);
        lua_rawset(L, -3);
    }
}

/* mt: index of the metatable to set, or 0. */
static void marshal_push_array(lua_State *L, int refs, const json_t *arr, marshal_role child, int mt)
{
    size_t n = json_array_size(arr);

    luaL_checkstack(L, 4, "response nested too deeply");
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        marshal_push_json(L, refs, json_array_get(arr, i), child);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    if (mt) {
        lua_pushvalue(L, mt);
        lua_setmetatable(L, -2);
    }
}

static int marshal_set_valid(const json_t *arr, int kind)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        if (!json_is_string(e)) return 0;
        if (kind == MARSHAL_ELEM_B && !marshal_b64_valid(json_string_value(e), json_string_length(e)))
            return 0;
    }
    return 1;
}

static void marshal_push_set(lua_State *L, int refs, const json_t *arr, int kind)
{
    size_t n = json_array_size(arr);

    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        if (kind == MARSHAL_ELEM_S) lua_pushlstring(L, json_string_value(e), json_string_length(e));
        else if (kind == MARSHAL_ELEM_N) marshal_push_ntext(L, refs, e);
        else marshal_push_binary(L, refs, e);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushvalue(L, refs + MARSHAL_REF_SET);
    lua_setmetatable(L, -2);
}

/* Pushes {type: v} and returns 1, or pushes nothing and returns 0 when malformed. */
static int marshal_push_typed(lua_State *L, int refs, const char *t, size_t tlen, const json_t *v)
{
    int set = marshal_is(t, tlen, "SS") ? MARSHAL_ELEM_S : marshal_is(t, tlen, "NS") ? MARSHAL_ELEM_N :
              marshal_is(t, tlen, "BS") ? MARSHAL_ELEM_B : -1;

    if (marshal_is(t, tlen, "S") && json_is_string(v))
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
    else if (marshal_is(t, tlen, "N") && json_is_string(v))
        marshal_push_ntext(L, refs, v);
    else if (marshal_is(t, tlen, "BOOL") && json_is_boolean(v))
        lua_pushboolean(L, json_is_true(v));
    else if (marshal_is(t, tlen, "NULL"))
        lua_pushvalue(L, refs + MARSHAL_REF_NULL);
    else if (marshal_is(t, tlen, "B") && json_is_string(v) &&
             marshal_b64_valid(json_string_value(v), json_string_length(v)))
        marshal_push_binary(L, refs, v);
    else if (marshal_is(t, tlen, "L") && json_is_array(v))
        marshal_push_array(L, refs, v, MARSHAL_ROLE_AV, refs + MARSHAL_REF_LIST);
    else if (marshal_is(t, tlen, "M") && json_is_object(v))
        marshal_push_object(L, refs, v, MARSHAL_ROLE_AV);
    else if (set >= 0 && json_is_array(v) && marshal_set_valid(v, set))
        marshal_push_set(L, refs, v, set);
    else
        return 0;
    return 1;
}

static void marshal_push_av(lua_State *L, int refs, const json_t *av)
{
    if (json_is_object(av) && json_object_size(av) == 1) {
        void *it = json_object_iter((json_t *)av);
        if (marshal_push_typed(L, refs, json_object_iter_key(it), json_object_iter_key_len(it),
                               json_object_iter_value(it)))
            return;
    }
    marshal_push_json(L, refs, av, MARSHAL_ROLE_PLAIN);
}

static void marshal_push_json(lua_State *L, int refs, const json_t *v, marshal_role role)
{
    if (role == MARSHAL_ROLE_AV) {
        marshal_push_av(L, refs, v);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: marshal_push_object(L, refs, v, marshal_object_child(role)); break;
    case JSON_ARRAY:
        /* an empty array must keep its list mark, or it is written back as {} */
        marshal_push_array(L, refs, v, marshal_array_child(role), json_array_size(v) ? 0 : refs + MARSHAL_REF_LIST);
        break;
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushvalue(L, refs + MARSHAL_REF_NULL); break;
    }
}

static void marshal_push_root(lua_State *L, const json_t *v, marshal_role role)
{
    int refs;

    if (!v) {
        lua_pushnil(L);
        return;
    }
    refs = marshal_push_refs(L);
    marshal_push_json(L, refs, v, role);
    lua_replace(L, refs);
    lua_settop(L, refs);
}

void marshal_push_value(lua_State *L, const json_t *av)
{
    marshal_push_root(L, av, MARSHAL_ROLE_AV);
}

void marshal_push_item(lua_State *L, const json_t *item)
{
    marshal_push_root(L, item, MARSHAL_ROLE_ITEM);
}

void marshal_push_response(lua_State *L, const json_t *response)
{
    marshal_push_root(L, response, MARSHAL_ROLE_FIELDS);
}

/* --- the Lua constructors --- */

static int marshal_l_null_tostring(lua_State *L)
{
    lua_pushliteral(L, MARSHAL_NULL_MT);
    return 1;
}

static int marshal_l_binary_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushliteral(L, "value");
    lua_rawget(L, 1);
    lua_pushfstring(L, "ddb.binary(%I bytes)",
                    (lua_Integer)(lua_type(L, -1) == LUA_TSTRING ? lua_rawlen(L, -1) : 0));
    return 1;
}

static int marshal_l_number_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushliteral(L, "value");
    if (lua_rawget(L, 1) != LUA_TSTRING) lua_pushliteral(L, "ddb.number(?)");
    return 1;
}

/* __eq of ddb.binary and ddb.number: same metatable and same bytes. */
static int marshal_l_boxed_eq(lua_State *L)
{
    int eq = 0;

    if (lua_type(L, 1) == LUA_TTABLE && lua_type(L, 2) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        if (lua_getmetatable(L, 2) && lua_rawequal(L, -1, -2)) {
            lua_pushliteral(L, "value");
            lua_rawget(L, 1);
            lua_pushliteral(L, "value");
            lua_rawget(L, 2);
            eq = lua_type(L, -1) == LUA_TSTRING && lua_rawequal(L, -1, -2);
        }
    }
    lua_pushboolean(L, eq);
    return 1;
}

static int marshal_l_box(lua_State *L, const char *mt)
{
    lua_settop(L, 1);
    lua_createtable(L, 0, 1);
    lua_insert(L, 1);
    lua_setfield(L, 1, "value");
    luaL_setmetatable(L, mt);
    return 1;
}

static int marshal_l_binary(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TSTRING);
    return marshal_l_box(L, MARSHAL_BINARY_MT);
}

static int marshal_l_number(lua_State *L)
{
    size_t len;
    const char *s;
    marshal_decimal d;

    luaL_checktype(L, 1, LUA_TSTRING);
    s = lua_tolstring(L, 1, &len);
    if (strlen(s) != len || marshal_decimal_parse(s, &d) < 0)
        return luaL_argerror(L, 1, lua_pushfstring(L, "\"%s\" is not a DynamoDB number (expected "
                                                      "-?digits[.digits][e[+-]digits], at most "
                                                      "38 significant digits)", s));
    return marshal_l_box(L, MARSHAL_NUMBER_MT);
}

static int marshal_l_set(lua_State *L)
{
    lua_Integer n = 0;

    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        n = (lua_Integer)lua_rawlen(L, 1);
    }
    lua_createtable(L, n < INT_MAX ? (int)n : INT_MAX, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        lua_rawseti(L, -2, i);
    }
    luaL_setmetatable(L, MARSHAL_SET_MT);
    return 1;
}

static int marshal_l_tag(lua_State *L, const char *mt)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    luaL_setmetatable(L, mt);
    return 1;
}

static int marshal_l_list(lua_State *L)
{
    return marshal_l_tag(L, MARSHAL_LIST_MT);
}

static int marshal_l_map(lua_State *L)
{
    return marshal_l_tag(L, MARSHAL_MAP_MT);
}

static int marshal_l_is_null(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, MARSHAL_NULL_MT) != NULL);
    return 1;
}

/* type_of(v) -> "S", "N", ... or nil and the reason v cannot be stored. */
static int marshal_l_type_of(lua_State *L)
{
    char err[256], type[8];
    json_t *av;

    lua_settop(L, 1);
    av = marshal_value(L, 1, NULL, err, sizeof err);
    if (!av) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    snprintf(type, sizeof type, "%s", json_object_iter_key(json_object_iter(av)));
    json_decref(av);   /* before pushing: a memory error must not leak it */
    lua_pushstring(L, type);
    return 1;
}

static const luaL_Reg marshal_null_meta[] = {
    {"__tostring", marshal_l_null_tostring},
    {NULL, NULL}
};

static const luaL_Reg marshal_binary_meta[] = {
    {"__tostring", marshal_l_binary_tostring},
    {"__eq", marshal_l_boxed_eq},
    {NULL, NULL}
};

static const luaL_Reg marshal_number_meta[] = {
    {"__tostring", marshal_l_number_tostring},
    {"__eq", marshal_l_boxed_eq},
    {NULL, NULL}
};

static const luaL_Reg marshal_funcs[] = {
    {"set", marshal_l_set},
    {"binary", marshal_l_binary},
    {"number", marshal_l_number},
    {"list", marshal_l_list},
    {"map", marshal_l_map},
    {"is_null", marshal_l_is_null},
    {"type_of", marshal_l_type_of},
    {NULL, NULL}
};

static void marshal_new_metatable(lua_State *L, const char *name, const luaL_Reg *methods)
{
    if (luaL_newmetatable(L, name) && methods) luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}

static void marshal_init_registry(lua_State *L)
{
    marshal_new_metatable(L, MARSHAL_NULL_MT, marshal_null_meta);
    marshal_new_metatable(L, MARSHAL_SET_MT, NULL);
    marshal_new_metatable(L, MARSHAL_BINARY_MT, marshal_binary_meta);
    marshal_new_metatable(L, MARSHAL_NUMBER_MT, marshal_number_meta);
    marshal_new_metatable(L, MARSHAL_LIST_MT, NULL);
    marshal_new_metatable(L, MARSHAL_MAP_MT, NULL);
    if (lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY) != LUA_TUSERDATA) {
        lua_newuserdatauv(L, 0, 0);
        luaL_setmetatable(L, MARSHAL_NULL_MT);
        lua_setfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY);
    }
    lua_pop(L, 1);
}

void marshal_open(lua_State *L)
{
    marshal_init_registry(L);
    luaL_newlib(L, marshal_funcs);
    lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY);
    lua_setfield(L, -2, "null");
}
