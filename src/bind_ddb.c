/* The native module "ddb.core"; lua/ddb.lua builds the public "ddb" on it. */
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

int luaopen_ddb_core(lua_State *L)
{
    marshal_open(L);             /* null, set, binary, number, list, map, ... */
    bind_client_register(L);      /* client, Client, Error, parse_env, sleep_ms */
    bind_records_register(L);     /* records, Records */
    bind_processor_register(L);   /* processor, Processor */
    lua_pushliteral(L, DDBRUN_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
