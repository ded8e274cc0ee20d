/* libFuzzer target: Lua values built from the input by a small stack machine
 * (one opcode per byte, operands from the following bytes) are marshalled
 * with marshal_item, marshal_request or marshal_value. What marshals is
 * pushed back (marshal_push_item/response/value) and marshalled again: the
 * second wire text must equal the first, DynamoDB numbers compared by value
 * ("1.50" is read back as 1.5, "1e2" as 100) and, in a request, an empty plain
 * array equal to {} (see fm_normalised); a third pass must give exactly the
 * second text. Also included by tests/test_fuzz_regressions.c,
 * hence the fm_ prefix on every static. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>

#include "bind.h"
#include "marshal.h"
#include "numtext.h"

#define FM_MAX_SLOTS 48    /* values on the machine's stack */
#define FM_MAX_OPS   1024
#define FM_LONG_PATH 300   /* paths are cut at 250 bytes */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FM_ITEM, FM_REQUEST, FM_VALUE, FM_MODES };
static const char *const fm_mode_names[] = {"item", "request", "value"};

enum {
    FM_OP_INT64, FM_OP_FLOAT64, FM_OP_SMALLINT, FM_OP_STRING, FM_OP_LONGSTRING, FM_OP_NUMSTRING,
    FM_OP_TABLE, FM_OP_SETKV, FM_OP_SETSTR, FM_OP_SETI, FM_OP_APPEND, FM_OP_SETBOOL,
    FM_OP_SET, FM_OP_LIST, FM_OP_MAP, FM_OP_BINARY, FM_OP_NUMBER, FM_OP_NULL, FM_OP_BOOL,
    FM_OP_DUP, FM_OP_POP, FM_OP_SETMT, FM_OP_ODD, FM_OP_SPECIAL, FM_OP_WRAP, FM_OP_COUNT
};

typedef struct {
    const uint8_t *p;
    size_t n;
} fm_input;

static lua_State *fm_L;

static lua_State *fm_state(void)
{
    if (!fm_L) {
        fm_L = luaL_newstate();
        if (!fm_L) abort();
        luaL_openlibs(fm_L);
        bind_values_open(fm_L);
        lua_setglobal(fm_L, "ddb");
    }
    if (!lua_checkstack(fm_L, FM_MAX_SLOTS + 16)) abort();
    lua_settop(fm_L, 0);
    return fm_L;
}

static unsigned fm_byte(fm_input *in)
{
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

static uint64_t fm_u64(fm_input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | fm_byte(in);
    return v;
}

/* ddb.<name>(top): replaces the top with the result, or leaves it when the constructor raises. */
static void fm_construct(lua_State *L, const char *name)
{
    lua_getglobal(L, "ddb");
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_pushvalue(L, -2);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) lua_replace(L, -2);
    else lua_pop(L, 1);
}

static int fm_cfunction(lua_State *L)
{
    (void)L;
    return 0;
}

static void fm_push_special(lua_State *L, unsigned b)
{
    static const double specials[] = {
        0.1, -0.0, 0.0, 1.5, 3.0, 1e15, 1e16, 1e20, 1e300, -1e300, 5e-324, 2.2250738585072014e-308,
        9007199254740992.0, 9007199254740993.0, 9223372036854775808.0, -9223372036854775808.0,
        123456789012345678.0, 1.7976931348623157e308, 0.30000000000000004, 1e-7, 100.0,
    };
    size_t n = sizeof specials / sizeof specials[0];

    b %= n + 5;
    if (b < n) lua_pushnumber(L, specials[b]);
    else if (b == n) lua_pushnumber(L, NAN);
    else if (b == n + 1) lua_pushnumber(L, INFINITY);
    else if (b == n + 2) lua_pushnumber(L, -INFINITY);
    else if (b == n + 3) lua_pushinteger(L, LUA_MAXINTEGER);
    else lua_pushinteger(L, LUA_MININTEGER);
}

/* Runs the program; leaves the built values on L's stack. */
static void fm_run(lua_State *L, fm_input *in)
{
    static const char *const mts[] = {MARSHAL_NULL_MT, MARSHAL_SET_MT, MARSHAL_BINARY_MT,
                                      MARSHAL_NUMBER_MT, MARSHAL_LIST_MT, MARSHAL_MAP_MT};
    static const char numchars[] = "0123456789012345678901234567890123456789.-eE+";

    for (int ops = 0; in->n > 0 && ops < FM_MAX_OPS; ops++) {
        unsigned op = fm_byte(in) % FM_OP_COUNT;
        int top = lua_gettop(L);
        int full = top >= FM_MAX_SLOTS;
        char buf[256];
        size_t len;

        switch (op) {
        case FM_OP_INT64:
            if (!full) lua_pushinteger(L, (lua_Integer)fm_u64(in));
            break;
        case FM_OP_FLOAT64: {
            uint64_t bits = fm_u64(in);
            double d;
            memcpy(&d, &bits, sizeof d);
            if (!full) lua_pushnumber(L, d);
            break;
        }
        case FM_OP_SMALLINT:
            if (!full) lua_pushinteger(L, (int8_t)fm_byte(in));
            break;
        case FM_OP_STRING:
            len = fm_byte(in);
            if (len > in->n) len = in->n;
            if (!full) lua_pushlstring(L, (const char *)in->p, len);
            in->p += len, in->n -= len;
            break;
        case FM_OP_LONGSTRING:
            len = fm_byte(in) * 4;
            memset(buf, (int)fm_byte(in), sizeof buf);
            if (!full) {
                luaL_Buffer b;
                luaL_buffinit(L, &b);
                for (size_t done = 0; done < len; done += sizeof buf)
                    luaL_addlstring(&b, buf, len - done < sizeof buf ? len - done : sizeof buf);
                luaL_pushresult(&b);
            }
            break;
        case FM_OP_NUMSTRING:
            len = fm_byte(in) % 48;
            for (size_t i = 0; i < len; i++) buf[i] = numchars[fm_byte(in) % (sizeof numchars - 1)];
            if (!full) lua_pushlstring(L, buf, len);
            break;
        case FM_OP_TABLE:
            if (!full) lua_newtable(L);
            break;
        case FM_OP_SETKV: /* t k v -> t */
            if (top >= 3 && lua_istable(L, -3)) {
                if (lua_isnil(L, -2) || (lua_type(L, -2) == LUA_TNUMBER && lua_tonumber(L, -2) != lua_tonumber(L, -2)))
                    lua_pop(L, 2);
                else
                    lua_rawset(L, -3);
            }
            break;
        case FM_OP_SETSTR: /* t v -> t, key from the input */
            len = fm_byte(in) % 32;
            if (len > in->n) len = in->n;
            if (top >= 2 && lua_istable(L, -2)) {
                lua_pushlstring(L, (const char *)in->p, len);
                lua_insert(L, -2);
                lua_rawset(L, -3);
            }
            in->p += len, in->n -= len;
            break;
        case FM_OP_SETI: /* t v -> t */
            if (top >= 2 && lua_istable(L, -2)) lua_rawseti(L, -2, (int8_t)fm_byte(in));
            break;
        case FM_OP_APPEND: /* t v -> t */
            if (top >= 2 && lua_istable(L, -2)) lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
            break;
        case FM_OP_SETBOOL: /* t v -> t */
            if (top >= 2 && lua_istable(L, -2)) {
                lua_pushboolean(L, fm_byte(in) & 1);
                lua_insert(L, -2);
                lua_rawset(L, -3);
            }
            break;
        case FM_OP_SET:
        case FM_OP_LIST:
        case FM_OP_MAP:
        case FM_OP_BINARY:
        case FM_OP_NUMBER:
            if (top >= 1) {
                static const char *const names[] = {"set", "list", "map", "binary", "number"};
                fm_construct(L, names[op - FM_OP_SET]);
            }
            break;
        case FM_OP_NULL:
            if (!full) {
                lua_getglobal(L, "ddb");
                lua_getfield(L, -1, "null");
                lua_remove(L, -2);
            }
            break;
        case FM_OP_BOOL:
            if (!full) lua_pushboolean(L, fm_byte(in) & 1);
            else fm_byte(in);
            break;
        case FM_OP_DUP: { /* shares a value; set into its own descendant it makes a cycle */
            unsigned b = fm_byte(in);
            if (top >= 1 && !full) lua_pushvalue(L, 1 + (int)(b % (unsigned)top));
            break;
        }
        case FM_OP_POP:
            if (top >= 1) lua_pop(L, 1);
            break;
        case FM_OP_SETMT: { /* forges a ddb type on any table (or removes it) */
            unsigned b = fm_byte(in) % 7;
            if (top >= 1 && lua_istable(L, -1)) {
                if (b < 6) luaL_setmetatable(L, mts[b]);
                else {
                    lua_pushnil(L);
                    lua_setmetatable(L, -2);
                }
            }
            break;
        }
        case FM_OP_ODD: { /* values that cannot be stored */
            unsigned b = fm_byte(in) % 4;
            if (full) break;
            if (b == 0) lua_pushcfunction(L, fm_cfunction);
            else if (b == 1) lua_pushlightuserdata(L, (void *)fm_cfunction);
            else if (b == 2) lua_newuserdatauv(L, 8, 0);
            else lua_newthread(L);
            break;
        }
        case FM_OP_SPECIAL:
            if (!full) fm_push_special(L, fm_byte(in));
            else fm_byte(in);
            break;
        case FM_OP_WRAP: /* v -> {v} or {v = v} */
            if (top >= 1) {
                unsigned b = fm_byte(in);
                lua_createtable(L, 1, 1);
                lua_insert(L, -2);
                if (b & 1) lua_rawseti(L, -2, 1);
                else lua_setfield(L, -2, "v");
            }
            break;
        }
    }
}

static json_t *fm_marshal(lua_State *L, int mode, int idx, const char *path, char *err, size_t errlen)
{
    int top = lua_gettop(L);
    json_t *j;

    if (mode == FM_ITEM) j = marshal_item(L, idx, path, err, errlen);
    else if (mode == FM_REQUEST) j = marshal_request(L, idx, err, errlen);
    else j = marshal_value(L, idx, path, err, errlen);
    if (lua_gettop(L) != top) {
        fprintf(stderr, "fuzz_marshal: marshal %s moved the stack from %d to %d\n", fm_mode_names[mode],
                top, lua_gettop(L));
        abort();
    }
    if (errlen > 0 && memchr(err, '\0', errlen) == NULL) {
        fprintf(stderr, "fuzz_marshal: err is not terminated within %zu bytes\n", errlen);
        abort();
    }
    if (errlen > 1 && (j ? err[0] != '\0' : err[0] == '\0')) {
        fprintf(stderr, "fuzz_marshal: marshal %s %s but err is \"%s\"\n", fm_mode_names[mode],
                j ? "succeeded" : "failed", err);
        abort();
    }
    return j;
}

static int fm_push(lua_State *L)
{
    int mode = (int)lua_tointeger(L, 1);
    const json_t *j = lua_touserdata(L, 2);

    lua_settop(L, 0);
    if (mode == FM_ITEM) marshal_push_item(L, j);
    else if (mode == FM_REQUEST) marshal_push_response(L, j);
    else marshal_push_value(L, j);
    return 1;
}

/* Pushes j as mode's reader does, protected; a raise (memory only) aborts. */
static void fm_push_json(lua_State *L, int mode, const json_t *j)
{
    lua_pushcfunction(L, fm_push);
    lua_pushinteger(L, mode);
    lua_pushlightuserdata(L, (void *)j);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_marshal: pushing back raised: %s\n", lua_tostring(L, -1));
        abort();
    }
}

/* A DynamoDB number as "-digitsEpoint" (0.digits * 10^point), so that equal
 * values give equal text; s is returned unchanged when it is not a number. */
static json_t *fm_norm_number(const char *s)
{
    size_t n = strlen(s), nd = 0;
    char *digits = malloc(n + 1), *out;
    long long intpart = 0, exp = 0, point;
    int neg = 0, expneg = 0;
    size_t first = 0;
    const char *p = s;
    json_t *j;

    if (!digits) abort();
    if (*p == '-') neg = 1, p++;
    for (; *p >= '0' && *p <= '9'; p++) digits[nd++] = *p, intpart++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) digits[nd++] = *p;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') expneg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++)
            if (exp < 1000000000) exp = exp * 10 + (*p - '0');
    }
    if (*p || nd == 0) {
        free(digits);
        return json_string(s);
    }
    while (first < nd && digits[first] == '0') first++;
    while (nd > first && digits[nd - 1] == '0') nd--;
    point = intpart - (long long)first + (expneg ? -exp : exp);
    out = malloc(n + 64);
    if (!out) abort();
    if (first == nd) strcpy(out, "0");
    else snprintf(out, n + 64, "%s%.*se%lld", neg ? "-" : "", (int)(nd - first), digits + first, point);
    j = json_string(out);
    free(digits);
    free(out);
    return j;
}

/* A copy of j with the text of every {"N": s} and {"NS": [s...]} in its
 * normal form and, with empty_arrays, every empty array replaced by {}: a
 * plain request field holding an empty ddb.list is written as [], but read
 * back it is a plain table (marshal.h: "plain JSON arrays become plain
 * tables"), written as {}. Built by hand: json_deep_copy cuts keys at NUL. */
static json_t *fm_normalised(const json_t *j, int empty_arrays)
{
    json_t *o = (json_t *)j, *out, *n, *ns, *v;
    size_t i;

    if (empty_arrays && json_is_array(j) && json_array_size(j) == 0) return json_object();
    if (json_is_object(j)) {
        n = json_object_get(o, "N");
        ns = json_object_get(o, "NS");
        out = json_object();
        if (json_object_size(o) == 1 && json_is_string(n)) {
            json_object_set_new(out, "N", fm_norm_number(json_string_value(n)));
        } else if (json_object_size(o) == 1 && json_is_array(ns)) {
            json_t *arr = json_array();
            json_array_foreach(ns, i, v)
                json_array_append_new(arr, json_is_string(v) ? fm_norm_number(json_string_value(v)) : json_incref(v));
            json_object_set_new(out, "NS", arr);
        } else {
            for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it))
                json_object_setn_new_nocheck(out, json_object_iter_key(it), json_object_iter_key_len(it),
                                             fm_normalised(json_object_iter_value(it), empty_arrays));
        }
        return out;
    }
    if (json_is_array(j)) {
        out = json_array();
        json_array_foreach(o, i, v) json_array_append_new(out, fm_normalised(v, empty_arrays));
        return out;
    }
    return json_incref(o);
}

/* normalised: 0 exact text, 1 numbers by value, 2 also empty arrays as {}. */
static char *fm_dump(const json_t *j, int normalised)
{
    json_t *copy = normalised ? fm_normalised(j, normalised == 2) : json_incref((json_t *)j);
    char *s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

    json_decref(copy);
    if (!s) abort();
    return s;
}

static void fm_expect_same(const char *what, int mode, const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return;
    fprintf(stderr, "fuzz_marshal: %s %s differs after a round trip:\n  before: %s\n  after:  %s\n",
            fm_mode_names[mode], what, a, b);
    abort();
}

/* Pushes j back, marshals it again (which must succeed) and returns the result. */
static json_t *fm_again(lua_State *L, int mode, const json_t *j, const char *path)
{
    char err[512];
    json_t *again;

    fm_push_json(L, mode, j);
    again = fm_marshal(L, mode, lua_gettop(L), path, err, sizeof err);
    lua_pop(L, 1);
    if (!again) {
        char *t = fm_dump(j, 0);
        fprintf(stderr, "fuzz_marshal: %s %s does not marshal after a round trip: %s\n", fm_mode_names[mode], t, err);
        abort();
    }
    return again;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t errlens[] = {0, 1, 24, 512};
    static char long_path[FM_LONG_PATH + 1];
    fm_input in = {data, size};
    lua_State *L = fm_state();
    unsigned cfg = fm_byte(&in);
    int mode = (int)(cfg % FM_MODES);
    size_t errlen = errlens[cfg / FM_MODES % 4];
    const char *path = NULL;
    char *err;
    json_t *j1, *j2, *j3;

    if (!long_path[0]) memset(long_path, 'p', FM_LONG_PATH);
    switch (cfg / (FM_MODES * 4) % 3) {
    case 1: path = "Item"; break;
    case 2: path = long_path; break;
    default: break;
    }
    fm_run(L, &in);
    if (lua_gettop(L) > 0) {
        err = malloc(errlen ? errlen : 1);   /* exact size: an overrun is caught */
        if (!err) abort();
        j1 = fm_marshal(L, mode, lua_gettop(L), path, err, errlen);
        free(err);
        if (j1) {
            char *t1, *t2, *u2, *u3;
            j2 = fm_again(L, mode, j1, path);
            j3 = fm_again(L, mode, j2, path);
            t1 = fm_dump(j1, mode == FM_REQUEST ? 2 : 1);
            t2 = fm_dump(j2, mode == FM_REQUEST ? 2 : 1);
            fm_expect_same("(normalised)", mode, t1, t2);
            u2 = fm_dump(j2, 0);
            u3 = fm_dump(j3, 0);
            fm_expect_same("(second and third pass)", mode, u2, u3);
            free(t1), free(t2), free(u2), free(u3);
            json_decref(j1), json_decref(j2), json_decref(j3);
        }
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
