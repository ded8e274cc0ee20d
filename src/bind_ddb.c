/* The native module "ddb.core"; lua/ddb.lua builds the public "ddb" on it. */
#include <string.h>

#include <lauxlib.h>

#include "bind.h"
#include "marshal.h"
#include "runtime.h"

void bind_gc_metatable(lua_State *L, const char *name, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

void bind_set_string(lua_State *L, const char *field, const char *value)
{
    if (!value) return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

void bind_set_integer(lua_State *L, const char *field, lua_Integer value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, field);
}

void bind_copy_name(lua_State *L, const char *who, const char *field, char *dst, size_t size)
{
    size_t len;
    const char *v = lua_tolstring(L, -1, &len);
    if (!v || !len || len >= size) luaL_error(L, "%s: option '%s' must be a table or index name", who, field);
    memcpy(dst, v, len + 1);
}

int luaopen_ddb_core(lua_State *L)
{
    bind_values_open(L);         /* null, set, binary, number, list, map, ... */
    bind_client_register(L);      /* client, Client, Error, parse_env, sleep_ms */
    bind_records_register(L);     /* records, Records */
    bind_processor_register(L);   /* processor, Processor */
    lua_pushliteral(L, DDBRUN_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
