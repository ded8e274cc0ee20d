/* The native module "ddb.core" (lua/ddb.lua builds the public "ddb" on it),
 * and what every binding shares: table setters, names, ddb.Error, the JSON
 * box, and the module functions parse_env and sleep_ms. */
#include <string.h>

#include <lauxlib.h>

#include "bind.h"
#include "dotenv.h"
#include "retry.h"
#include "runtime.h"

#define BIND_JSON_BOX_MT "ddb.json"

void bind_gc_metatable(lua_State *L, const char *name, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

void bind_set_string(lua_State *L, const char *field, const char *value)
{
    if (!value)
        return;
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
    if (!v || !len || len >= size || strlen(v) != len)
        luaL_error(L, "%s: option '%s' must be a table or index name", who, field);
    memcpy(dst, v, len + 1);
}

/* --- ddb.Error --- */

/* An empty text in a ddb_error means "absent". */
static const char *bind_present(const char *s)
{
    return *s ? s : NULL;
}

void bind_push_error(lua_State *L, const ddb_error *err)
{
    lua_createtable(L, 0, 6);
    bind_set_string(L, "code", bind_present(err->code));
    bind_set_string(L, "message", bind_present(err->message));
    bind_set_string(L, "request_id", bind_present(err->request_id));
    bind_set_integer(L, "status", err->status);
    lua_pushboolean(L, err->retryable);
    lua_setfield(L, -2, "retryable");
    bind_set_integer(L, "attempts", err->attempts);
    luaL_setmetatable(L, BIND_ERROR_MT);
}

int bind_raise_error(lua_State *L, const ddb_error *err)
{
    bind_push_error(L, err);
    return lua_error(L);
}

static int bind_error_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "message");
    lua_getfield(L, 1, "status");
    lua_getfield(L, 1, "request_id");
    const char *code = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "DynamoDBError";
    const char *message = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : "";
    int status = (int)lua_tointeger(L, 4);
    if (status && lua_type(L, 5) == LUA_TSTRING)
        lua_pushfstring(L, "%s: %s (HTTP %d, request id %s)", code, message, status, lua_tostring(L, 5));
    else if (status)
        lua_pushfstring(L, "%s: %s (HTTP %d)", code, message, status);
    else
        lua_pushfstring(L, "%s: %s", code, message);
    return 1;
}

/* --- the JSON box --- */

json_t **bind_json_box(lua_State *L)
{
    json_t **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, BIND_JSON_BOX_MT);
    return box;
}

void bind_json_box_release(lua_State *L, int idx)
{
    json_t **box = luaL_checkudata(L, idx, BIND_JSON_BOX_MT);
    json_decref(*box);
    *box = NULL;
}

static int bind_json_box_gc(lua_State *L)
{
    bind_json_box_release(L, 1);
    return 0;
}

/* --- module functions --- */

static int bind_push_pair(void *ud, const char *key, const char *value)
{
    lua_State *L = ud;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
    return 0;
}

/* parse_env(text [, filename]) -> table of settings; raises "FILE:LINE: problem".
 * The work buffer is a userdata: bind_push_pair may raise (out of memory). */
static int bind_parse_env(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, ".env");
    char err[512];
    char *buf = lua_newuserdatauv(L, len + 2, 0);
    lua_newtable(L);
    if (dotenv_parse_in(text, len, name, buf, bind_push_pair, L, err, sizeof err) != 0)
        return luaL_error(L, "%s", err);
    return 1;
}

static int bind_sleep_ms(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 0 && ms <= 3600000, 1, "milliseconds out of range");
    retry_sleep_ms((int)ms);
    return 0;
}

static const luaL_Reg bind_module_functions[] = {
    { "parse_env", bind_parse_env },
    { "sleep_ms", bind_sleep_ms },
    { NULL, NULL },
};

int luaopen_ddb_core(lua_State *L)
{
    bind_values_open(L);          /* null, set, binary, number, list, map, ... */
    luaL_setfuncs(L, bind_module_functions, 0);
    bind_gc_metatable(L, BIND_JSON_BOX_MT, bind_json_box_gc);
    luaL_newmetatable(L, BIND_ERROR_MT);
    lua_pushcfunction(L, bind_error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setfield(L, -2, "Error");
    bind_client_register(L);      /* client, Client */
    bind_records_register(L);     /* records, Records */
    bind_processor_register(L);   /* processor, Processor */
    lua_pushliteral(L, DDBRUN_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
