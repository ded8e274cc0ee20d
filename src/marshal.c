/* Lua values -> DynamoDB's typed JSON; see marshal.h. */
#include "marshal.h"
#include "marshal_roles.h"
#include "numtext.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/evp.h>

#define MARSHAL_NULL_KEY   "ddb.null.sentinel" /* registry slot of the ddb.null userdata */
#define MARSHAL_CTX_MT     "ddb.marshal"       /* the userdata a conversion's state lives in */
#define MARSHAL_MAX_DEPTH  32
#define MARSHAL_PATH_SIZE  256
#define MARSHAL_B64_STACK  1024

typedef enum {
    MARSHAL_SHAPE_EMPTY, MARSHAL_SHAPE_MAP, MARSHAL_SHAPE_SEQ,
    MARSHAL_SHAPE_MIXED, MARSHAL_SHAPE_HOLES, MARSHAL_SHAPE_BADKEY
} marshal_shape_kind;

typedef struct {
    marshal_shape_kind kind;
    lua_Integer n;          /* number of entries */
    const char *badkey;     /* type of the first key that is neither string nor integer */
} marshal_shape;

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
    /* Containers being built, owned here until they are complete: the ctx is
     * a userdata, so when a Lua call raises (out of memory) its __gc frees them. */
    int nheld;
    json_t *held[2 * MARSHAL_MAX_DEPTH + 4];
} marshal_ctx;

const char *const marshal_type_names[MARSHAL_TYPE_COUNT] = {
    MARSHAL_NULL_MT, MARSHAL_SET_MT, MARSHAL_BINARY_MT, MARSHAL_NUMBER_MT, MARSHAL_LIST_MT, MARSHAL_MAP_MT,
};

static int marshal_isdigit(char ch)
{
    return ch >= '0' && ch <= '9';
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
    for (int k = MARSHAL_TYPE_SET; k <= MARSHAL_TYPE_MAP; k++) {
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
    case MARSHAL_TYPE_SET: return "ddb.set";
    case MARSHAL_TYPE_BINARY: return "ddb.binary";
    case MARSHAL_TYPE_NUMBER: return "ddb.number";
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

/* --- containers under construction --- */

/* Takes v (may be NULL) into the ctx's keeping; returns it. */
static json_t *marshal_hold(marshal_ctx *c, json_t *v)
{
    if (v)
        c->held[c->nheld++] = v;
    return v;
}

/* Hands the last held container back to the caller (LIFO). */
static json_t *marshal_unhold(marshal_ctx *c)
{
    return c->held[--c->nheld];
}

static int marshal_ctx_gc(lua_State *L)
{
    marshal_ctx *c = lua_touserdata(L, 1);
    while (c->nheld > 0)
        json_decref(c->held[--c->nheld]);
    return 0;
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
    char buf[64];
    int n;
    json_t *v;

    if (lua_type(L, idx) == LUA_TTABLE) {
        size_t len;
        const char *s = marshal_boxed_value(L, idx, &len);
        if (!s) return marshal_fail(c, "malformed ddb.number (value is not a string)");
        if (!numtext_valid(s, len)) {
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
        n = numtext_format_double(d, buf, sizeof buf);
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
        case MARSHAL_TYPE_NUMBER: return MARSHAL_ELEM_N;
        case MARSHAL_TYPE_BINARY: return MARSHAL_ELEM_B;
        default: return MARSHAL_ELEM_BAD;
        }
    default: return MARSHAL_ELEM_BAD;
    }
}

/* Converts one element and records it in seen; numbers are compared by value
 * (1, 1.0 and ddb.number("1.0") are the same element to DynamoDB). */
static json_t *marshal_set_elem(marshal_ctx *c, int idx, int kind, json_t *seen)
{
    char key[NUMTEXT_MAX_DIGITS + 32];
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
        /* valid: checked or formatted above */
        klen = (size_t)numtext_canonical(k, klen, key, sizeof key);
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
    arr = marshal_hold(c, json_array());
    seen = marshal_hold(c, json_object());
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
            const char *what = lua_rawequal(L, -1, c->refs + MARSHAL_TYPE_NULL) ? "ddb.null" : luaL_typename(L, -1);
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
    json_decref(marshal_unhold(c));   /* seen */
    return marshal_wrap(c, types[kind], marshal_unhold(c));
fail:
    lua_settop(L, top);
    if (seen)
        json_decref(marshal_unhold(c));
    if (arr)
        json_decref(marshal_unhold(c));
    return NULL;
}

/* --- Lua -> JSON: containers --- */

static json_t *marshal_convert(marshal_ctx *c, int idx, marshal_role role);

/* The table at idx has only string keys. */
static json_t *marshal_object(marshal_ctx *c, int idx, marshal_role child)
{
    lua_State *L = c->L;
    int top = lua_gettop(L);
    json_t *obj = marshal_hold(c, json_object());

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
    return marshal_unhold(c);
fail:
    lua_settop(L, top);
    json_decref(marshal_unhold(c));
    return NULL;
}

/* The table at idx has keys 1..n. */
static json_t *marshal_array(marshal_ctx *c, int idx, lua_Integer n, marshal_role child)
{
    lua_State *L = c->L;
    json_t *arr = marshal_hold(c, json_array());

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
    return marshal_unhold(c);
fail:
    json_decref(marshal_unhold(c));
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
        if (lua_rawequal(L, idx, c->refs + MARSHAL_TYPE_NULL)) return marshal_wrap(c, "NULL", json_true());
        break;
    case LUA_TTABLE:
        switch (marshal_table_kind(c, idx)) {
        case MARSHAL_TYPE_SET: return marshal_set(c, idx);
        case MARSHAL_TYPE_BINARY: return marshal_wrap(c, "B", marshal_binary(c, idx));
        case MARSHAL_TYPE_NUMBER: return marshal_wrap(c, "N", marshal_number_text(c, idx));
        case MARSHAL_TYPE_LIST: return marshal_av_container(c, idx, 'L');
        case MARSHAL_TYPE_MAP: return marshal_av_container(c, idx, 'M');
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
    int want = kind == MARSHAL_TYPE_LIST ? 'L' : kind == MARSHAL_TYPE_MAP ? 'M' : 0;
    marshal_shape s;
    json_t *v;

    if (kind == MARSHAL_TYPE_SET || kind == MARSHAL_TYPE_BINARY || kind == MARSHAL_TYPE_NUMBER)
        return marshal_fail(c, "a %s is only allowed as an attribute value", marshal_kind_name(kind));
    if (role == MARSHAL_ROLE_ITEM || role == MARSHAL_ROLE_FIELDS) {
        if (kind == MARSHAL_TYPE_LIST) return marshal_fail(c, "a ddb.list is not a map");
        want = 'M';
    } else if (role == MARSHAL_ROLE_ITEMS || role == MARSHAL_ROLE_VALUES) {
        if (kind == MARSHAL_TYPE_MAP) return marshal_fail(c, "a ddb.map is not a list");
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
        if (lua_rawequal(L, idx, c->refs + MARSHAL_TYPE_NULL)) return json_null();
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

static void marshal_new_metatable(lua_State *L, const char *name)
{
    luaL_newmetatable(L, name);
    lua_pop(L, 1);
}

void marshal_registry_init(lua_State *L)
{
    for (int k = 0; k < MARSHAL_TYPE_COUNT; k++)
        marshal_new_metatable(L, marshal_type_names[k]);
    if (luaL_newmetatable(L, MARSHAL_CTX_MT)) {
        lua_pushcfunction(L, marshal_ctx_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY) != LUA_TUSERDATA) {
        lua_newuserdatauv(L, 0, 0);
        luaL_setmetatable(L, MARSHAL_NULL_MT);
        lua_setfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY);
    }
    lua_pop(L, 1);
}

int marshal_push_types(lua_State *L)
{
    luaL_checkstack(L, MARSHAL_TYPE_COUNT + 8, "marshal");
    if (lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        marshal_registry_init(L);
        lua_getfield(L, LUA_REGISTRYINDEX, MARSHAL_NULL_KEY);
    }
    for (int k = MARSHAL_TYPE_SET; k < MARSHAL_TYPE_COUNT; k++)
        lua_getfield(L, LUA_REGISTRYINDEX, marshal_type_names[k]);
    return lua_gettop(L) - (MARSHAL_TYPE_COUNT - 1);
}

/* Pushes the value types and a new ctx (a userdata: see held). */
static marshal_ctx *marshal_ctx_new(lua_State *L, const char *path, char *err, size_t errlen)
{
    int refs = marshal_push_types(L);
    marshal_ctx *c = lua_newuserdatauv(L, sizeof *c, 0);

    c->nheld = 0;
    luaL_setmetatable(L, MARSHAL_CTX_MT);
    c->L = L;
    c->refs = refs;
    c->err = err;
    c->errlen = errlen;
    c->av_depth = 0;
    c->plain_depth = 0;
    c->nseen = 0;
    c->pathlen = 0;
    c->path[0] = '\0';
    if (err && errlen)
        err[0] = '\0';
    if (path)
        marshal_path_put(c, path, strlen(path));
    return c;
}

/* Converts the value at idx in role root (AV, ITEM or FIELDS); what names it
 * in the message when a table is needed and it is not one. */
static json_t *marshal_run(lua_State *L, int idx, const char *path, marshal_role root, const char *what,
                           char *err, size_t errlen)
{
    int top = lua_gettop(L);
    marshal_ctx *c;
    json_t *v;

    idx = lua_absindex(L, idx);
    c = marshal_ctx_new(L, path, err, errlen);
    if (root == MARSHAL_ROLE_AV)
        v = marshal_av(c, idx);
    else if (lua_type(L, idx) == LUA_TTABLE)
        v = marshal_plain_table(c, idx, root);
    else
        v = marshal_fail(c, "%s must be a table, not %s", what, luaL_typename(L, idx));
    lua_settop(L, top);
    return v;
}

json_t *marshal_value(lua_State *L, int idx, const char *path, char *err, size_t errlen)
{
    return marshal_run(L, idx, path, MARSHAL_ROLE_AV, NULL, err, errlen);
}

json_t *marshal_item(lua_State *L, int idx, const char *path, char *err, size_t errlen)
{
    return marshal_run(L, idx, path, MARSHAL_ROLE_ITEM, "an item", err, errlen);
}

json_t *marshal_request(lua_State *L, int idx, char *err, size_t errlen)
{
    return marshal_run(L, idx, NULL, MARSHAL_ROLE_FIELDS, "a request", err, errlen);
}
