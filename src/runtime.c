#include "runtime.h"
#include "bind.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

/* The registry key of the host: the address of this unique object. */
static const char runtime_host_key = 'h';

void runtime_set_host(lua_State *L, runtime_host *h)
{
    lua_pushlightuserdata(L, h);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &runtime_host_key);
}

runtime_host *runtime_host_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &runtime_host_key);
    runtime_host *h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return h;
}

static const char runtime_creds_key = 'c';

void runtime_set_creds(lua_State *L, struct creds_registry *creds)
{
    lua_pushlightuserdata(L, creds);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &runtime_creds_key);
}

struct creds_registry *runtime_creds_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &runtime_creds_key);
    struct creds_registry *creds = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return creds;
}

static int set_up_state(lua_State *L)
{
    const char *lua_dir = lua_touserdata(L, 1);
    if (lua_toboolean(L, 2)) {
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");   /* read by the package library */
    }
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_ddb_core);
    lua_setfield(L, -2, "ddb.core");
    lua_pop(L, 1);
    if (lua_dir) {
        lua_getfield(L, -1, "path");
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", lua_dir, lua_dir, lua_tostring(L, -1));
        lua_setfield(L, -3, "path");
        lua_pop(L, 1);
    }
    return 0;
}

lua_State *runtime_new_state(const char *lua_dir, int ignore_env)
{
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    lua_pushcfunction(L, set_up_state);
    lua_pushlightuserdata(L, (void *)lua_dir);
    lua_pushboolean(L, ignore_env);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        lua_close(L);
        return NULL;
    }
    return L;
}

int runtime_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int has_ddb_lua(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/ddb.lua", dir) >= (int)sizeof path) return 0;
    return access(path, R_OK) == 0;
}

int runtime_find_lua_dir(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = '\0';
    static const char *const candidates[] = { "../share/ddbrun/lua", "../lua", "../../lua" };
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof dir, "%s/%s", exe, candidates[i]) >= (int)sizeof dir) continue;
        char resolved[PATH_MAX];
        if (has_ddb_lua(dir) && realpath(dir, resolved) && strlen(resolved) < size) {
            strcpy(out, resolved);
            return 0;
        }
    }
    return -1;
}
