/* ddb.Client: the DynamoDB client as a Lua object. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bind.h"
#include "creds.h"
#include "marshal.h"

typedef struct bind_client {
    ddb_client *c;
} bind_client;

/* --- the client object --- */

ddb_client *bind_client_new(lua_State *L, const ddb_config *cfg)
{
    bind_client *lc = lua_newuserdatauv(L, sizeof *lc, 0);
    lc->c = NULL;   /* closed until built, so __gc is safe if we raise below */
    luaL_setmetatable(L, BIND_CLIENT_MT);
    ddb_error err;
    lc->c = ddb_client_new(cfg, &err);
    if (!lc->c) bind_raise_error(L, &err);
    return lc->c;
}

ddb_client *bind_client_check(lua_State *L, int idx)
{
    bind_client *lc = luaL_checkudata(L, idx, BIND_CLIENT_MT);
    if (!lc->c) luaL_error(L, "attempt to use a closed ddb client");
    return lc->c;
}

static int bind_client_open(lua_State *L)
{
    ddb_config cfg;
    bind_config_resolve(L, 1, &cfg);
    bind_client_new(L, &cfg);
    config_clear(&cfg);
    return 1;
}

static int bind_client_close(lua_State *L)
{
    bind_client *lc = luaL_checkudata(L, 1, BIND_CLIENT_MT);
    ddb_client_free(lc->c);
    lc->c = NULL;
    return 0;
}

/* client:call(Operation, request) -> response table */
static int bind_client_call(lua_State *L)
{
    ddb_client *c = bind_client_check(L, 1);
    const char *op = luaL_checkstring(L, 2);
    size_t oplen = strspn(op, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    if (oplen == 0 || oplen > 64 || op[oplen] != '\0')
        return luaL_error(L, "'%s' is not a DynamoDB operation name (letters only, like PutItem)", op);
    if (lua_isnoneornil(L, 3)) {
        lua_newtable(L);
        lua_replace(L, 3);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    json_t **response = bind_json_box(L);   /* 4 */
    char msg[512];
    json_t *request = marshal_request(L, 3, msg, sizeof msg);
    if (!request) {
        lua_pushfstring(L, "%s: %s", op, msg);   /* no position: it would name ddb.lua, not the caller */
        return lua_error(L);
    }
    char *body = ddb_client_add_token(op, request) == 0 ? json_dumps(request, JSON_COMPACT) : NULL;
    json_decref(request);
    if (!body) return luaL_error(L, "%s: out of memory encoding the request", op);
    ddb_error err;
    int rc = ddb_client_call(c, op, body, strlen(body), NULL, response, &err);
    free(body);
    if (rc != 0) return bind_raise_error(L, &err);
    marshal_push_response(L, *response);
    bind_json_box_release(L, -2);
    return 1;
}

/* info.credentials = { source = "...", expiration = "2026-...Z" or nil }; never the keys. */
static void bind_client_push_credentials_info(lua_State *L, ddb_client *c)
{
    char source[320];
    char when[32];
    long long expiration_ms;
    ddb_error err;
    if (ddb_client_credentials(c, source, sizeof source, &expiration_ms, &err) != 0)
        bind_raise_error(L, &err);
    lua_createtable(L, 0, 2);
    bind_set_string(L, "source", source);
    creds_format_time(expiration_ms, when);
    if (expiration_ms)
        bind_set_string(L, "expiration", when);
    lua_setfield(L, -2, "credentials");
}

static int bind_client_info(lua_State *L)
{
    const ddb_config *cfg = ddb_client_config(bind_client_check(L, 1));
    lua_createtable(L, 0, 6);
    bind_set_string(L, "endpoint", cfg->endpoint);
    bind_set_string(L, "region", cfg->region);
    lua_pushinteger(L, cfg->retry.max_attempts);
    lua_setfield(L, -2, "max_attempts");
    lua_pushinteger(L, cfg->connect_timeout_ms);
    lua_setfield(L, -2, "connect_timeout_ms");
    lua_pushinteger(L, cfg->request_timeout_ms);
    lua_setfield(L, -2, "request_timeout_ms");
    bind_client_push_credentials_info(L, bind_client_check(L, 1));
    return 1;
}

static int bind_client_tostring(lua_State *L)
{
    bind_client *lc = luaL_checkudata(L, 1, BIND_CLIENT_MT);
    if (!lc->c) lua_pushliteral(L, "ddb.Client (closed)");
    else lua_pushfstring(L, "ddb.Client (%s)", ddb_client_config(lc->c)->endpoint);
    return 1;
}

static const luaL_Reg bind_client_methods[] = {
    { "call", bind_client_call },
    { "info", bind_client_info },
    { "close", bind_client_close },
    { NULL, NULL },
};

static const luaL_Reg bind_client_meta[] = {
    { "__gc", bind_client_close },
    { "__close", bind_client_close },
    { "__tostring", bind_client_tostring },
    { NULL, NULL },
};


void bind_client_register(lua_State *L)
{
    luaL_newmetatable(L, BIND_CLIENT_MT);
    luaL_setfuncs(L, bind_client_meta, 0);
    luaL_newlib(L, bind_client_methods);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "Client");

    lua_pushcfunction(L, bind_client_open);
    lua_setfield(L, -2, "client");
}
