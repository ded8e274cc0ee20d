/* The process's shared throttles (throttle.h): one per retry mode, owned by
 * the main Lua state's registry (made on first use, freed when that state
 * closes, after every worker state), borrowed by worker states as light
 * userdata. Every ddb_config the bindings resolve points at one of them. */
#include <lauxlib.h>

#include "bind.h"

static const char *const BIND_THROTTLE_KEYS[] = { "ddbrun.throttle.standard", "ddbrun.throttle.adaptive" };

static int bind_throttle_gc(lua_State *L)
{
    throttle **box = lua_touserdata(L, 1);
    throttle_free(*box);
    *box = NULL;
    return 0;
}

throttle *bind_client_throttle(lua_State *L, throttle_mode mode)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, BIND_THROTTLE_KEYS[mode]) != LUA_TNIL) {
        throttle *t = lua_type(L, -1) == LUA_TLIGHTUSERDATA ? lua_touserdata(L, -1)
                                                            : *(throttle **)lua_touserdata(L, -1);
        lua_pop(L, 1);
        return t;
    }
    lua_pop(L, 1);
    throttle **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, BIND_THROTTLE_MT)) {
        lua_pushcfunction(L, bind_throttle_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    *box = throttle_new(mode);
    if (!*box)
        luaL_error(L, "out of memory");
    lua_setfield(L, LUA_REGISTRYINDEX, BIND_THROTTLE_KEYS[mode]);
    return *box;
}

void bind_client_share_throttles(lua_State *from, lua_State *to)
{
    for (int mode = THROTTLE_STANDARD; mode <= THROTTLE_ADAPTIVE; mode++) {
        lua_pushlightuserdata(to, bind_client_throttle(from, (throttle_mode)mode));
        lua_setfield(to, LUA_REGISTRYINDEX, BIND_THROTTLE_KEYS[mode]);
    }
}
