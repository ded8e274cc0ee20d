/* The ddb value constructors and their metatables: ddb.null, ddb.set,
 * ddb.binary, ddb.number, ddb.list, ddb.map, ddb.is_null, ddb.type_of. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "bind.h"
#include "marshal.h"
#include "numtext.h"

static int bind_values_null_tostring(lua_State *L)
{
    lua_pushliteral(L, MARSHAL_NULL_MT);
    return 1;
}

static int bind_values_binary_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushliteral(L, "value");
    lua_rawget(L, 1);
    lua_pushfstring(L, "ddb.binary(%I bytes)",
                    (lua_Integer)(lua_type(L, -1) == LUA_TSTRING ? lua_rawlen(L, -1) : 0));
    return 1;
}

static int bind_values_number_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushliteral(L, "value");
    if (lua_rawget(L, 1) != LUA_TSTRING) lua_pushliteral(L, "ddb.number(?)");
    return 1;
}

/* __eq of ddb.binary and ddb.number: same metatable and same bytes. */
static int bind_values_boxed_eq(lua_State *L)
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

static int bind_values_box(lua_State *L, const char *mt)
{
    lua_settop(L, 1);
    lua_createtable(L, 0, 1);
    lua_insert(L, 1);
    lua_setfield(L, 1, "value");
    luaL_setmetatable(L, mt);
    return 1;
}

static int bind_values_binary(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TSTRING);
    return bind_values_box(L, MARSHAL_BINARY_MT);
}

static int bind_values_number(lua_State *L)
{
    size_t len;
    const char *s;

    luaL_checktype(L, 1, LUA_TSTRING);
    s = lua_tolstring(L, 1, &len);
    if (!numtext_valid(s, len))
        return luaL_argerror(L, 1, lua_pushfstring(L, "\"%s\" is not a DynamoDB number (expected "
                                                      "-?digits[.digits][e[+-]digits], at most "
                                                      "38 significant digits)", s));
    return bind_values_box(L, MARSHAL_NUMBER_MT);
}

static int bind_values_set(lua_State *L)
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

static int bind_values_tag(lua_State *L, const char *mt)
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

static int bind_values_list(lua_State *L)
{
    return bind_values_tag(L, MARSHAL_LIST_MT);
}

static int bind_values_map(lua_State *L)
{
    return bind_values_tag(L, MARSHAL_MAP_MT);
}

static int bind_values_is_null(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, MARSHAL_NULL_MT) != NULL);
    return 1;
}

/* type_of(v) -> "S", "N", ... or nil and the reason v cannot be stored. */
static int bind_values_type_of(lua_State *L)
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

static const luaL_Reg bind_values_null_meta[] = {
    {"__tostring", bind_values_null_tostring},
    {NULL, NULL}
};

static const luaL_Reg bind_values_binary_meta[] = {
    {"__tostring", bind_values_binary_tostring},
    {"__eq", bind_values_boxed_eq},
    {NULL, NULL}
};

static const luaL_Reg bind_values_number_meta[] = {
    {"__tostring", bind_values_number_tostring},
    {"__eq", bind_values_boxed_eq},
    {NULL, NULL}
};

static const luaL_Reg bind_values_funcs[] = {
    {"set", bind_values_set},
    {"binary", bind_values_binary},
    {"number", bind_values_number},
    {"list", bind_values_list},
    {"map", bind_values_map},
    {"is_null", bind_values_is_null},
    {"type_of", bind_values_type_of},
    {NULL, NULL}
};

static void bind_values_methods(lua_State *L, const char *name, const luaL_Reg *methods)
{
    luaL_getmetatable(L, name);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}

void bind_values_open(lua_State *L)
{
    marshal_registry_init(L);
    bind_values_methods(L, MARSHAL_NULL_MT, bind_values_null_meta);
    bind_values_methods(L, MARSHAL_BINARY_MT, bind_values_binary_meta);
    bind_values_methods(L, MARSHAL_NUMBER_MT, bind_values_number_meta);
    luaL_newlib(L, bind_values_funcs);
    int types = marshal_push_types(L);
    lua_pushvalue(L, types + MARSHAL_TYPE_NULL);
    lua_setfield(L, types - 1, "null");
    lua_settop(L, types - 1);
}
