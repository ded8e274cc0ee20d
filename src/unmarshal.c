/* DynamoDB's typed JSON -> Lua values; see marshal.h. */
#include "marshal.h"
#include "marshal_roles.h"
#include "numtext.h"

#include <limits.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/evp.h>

static int marshal_b64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
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

    switch (numtext_classify(text, len, &i, &d)) {
    case NUMTEXT_INTEGER: lua_pushinteger(L, (lua_Integer)i); break;
    case NUMTEXT_FLOAT: lua_pushnumber(L, d); break;
    default:
        lua_pushlstring(L, text, len);
        marshal_box(L, refs + MARSHAL_TYPE_NUMBER);
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
    marshal_box(L, refs + MARSHAL_TYPE_BINARY);
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
    lua_pushvalue(L, refs + MARSHAL_TYPE_SET);
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
        lua_pushvalue(L, refs + MARSHAL_TYPE_NULL);
    else if (marshal_is(t, tlen, "B") && json_is_string(v) &&
             marshal_b64_valid(json_string_value(v), json_string_length(v)))
        marshal_push_binary(L, refs, v);
    else if (marshal_is(t, tlen, "L") && json_is_array(v))
        marshal_push_array(L, refs, v, MARSHAL_ROLE_AV, refs + MARSHAL_TYPE_LIST);
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
        marshal_push_array(L, refs, v, marshal_array_child(role), json_array_size(v) ? 0 : refs + MARSHAL_TYPE_LIST);
        break;
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushvalue(L, refs + MARSHAL_TYPE_NULL); break;
    }
}

static void marshal_push_root(lua_State *L, const json_t *v, marshal_role role)
{
    int refs;

    if (!v) {
        lua_pushnil(L);
        return;
    }
    refs = marshal_push_types(L);
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
