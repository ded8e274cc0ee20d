/* ddb.Client: the DynamoDB client as a Lua object. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "creds.h"
#include "dotenv.h"
#include "bind.h"
#include "marshal.h"

#define JSON_BOX_MT "ddb.json"

typedef struct bind_client {
    ddb_client *c;
} bind_client;

/* --- errors --- */

/* An empty text in a ddb_error means "absent". */
static const char *present(const char *s)
{
    return *s ? s : NULL;
}

void bind_client_push_error(lua_State *L, const ddb_error *err)
{
    lua_createtable(L, 0, 6);
    bind_set_string(L, "code", present(err->code));
    bind_set_string(L, "message", present(err->message));
    bind_set_string(L, "request_id", present(err->request_id));
    lua_pushinteger(L, err->status);
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, err->retryable);
    lua_setfield(L, -2, "retryable");
    lua_pushinteger(L, err->attempts);
    lua_setfield(L, -2, "attempts");
    luaL_setmetatable(L, BIND_ERROR_MT);
}

int bind_client_raise(lua_State *L, const ddb_error *err)
{
    bind_client_push_error(L, err);
    return lua_error(L);
}

static int error_tostring(lua_State *L)
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

/* --- json box --- */

json_t **bind_json_box(lua_State *L)
{
    json_t **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, JSON_BOX_MT);
    return box;
}

void bind_json_box_release(lua_State *L, int idx)
{
    json_t **box = luaL_checkudata(L, idx, JSON_BOX_MT);
    json_decref(*box);
    *box = NULL;
}

static int json_box_gc(lua_State *L)
{
    bind_json_box_release(L, 1);
    return 0;
}

/* --- configuration --- */

static const char *const STRING_OPTIONS[] = {
    "endpoint", "region", "access_key_id", "secret_access_key", "session_token", "ca_bundle", NULL
};

static int option_index(const char *const *names, const char *key)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], key) == 0) return i;
    return -1;
}

static void apply_string_option(lua_State *L, ddb_config *cfg, int which, const char *key)
{
    size_t len;
    const char *v = lua_tolstring(L, -1, &len);
    if (!v) luaL_error(L, "ddb.client: option '%s' must be a string", key);
    struct { char *dst; size_t size; } slots[] = {
        { cfg->endpoint, sizeof cfg->endpoint }, { cfg->region, sizeof cfg->region },
        { cfg->access_key, sizeof cfg->access_key }, { cfg->secret_key, sizeof cfg->secret_key },
        { cfg->session_token, sizeof cfg->session_token }, { cfg->ca_bundle, sizeof cfg->ca_bundle },
    };
    if (len >= slots[which].size) luaL_error(L, "ddb.client: option '%s' is too long", key);
    memcpy(slots[which].dst, v, len + 1);
    if (which >= 2 && which <= 4) snprintf(cfg->static_source, sizeof cfg->static_source, "ddb.client options");
}

/* Returns 1 when key is a whole-number option (and sets it), 0 otherwise. */
static int apply_long_option(lua_State *L, ddb_config *cfg, const char *key)
{
    char label[96], err[160];
    snprintf(label, sizeof label, "ddb.client: option '%.40s'", key);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    /* a non-integer is pushed out of every range, so it gets the same message */
    int set = config_option_set(cfg, key, ok && v >= LONG_MIN && v <= LONG_MAX ? (long)v : LONG_MIN, label, err, sizeof err);
    if (set < 0) luaL_error(L, "%s", err);
    return set;
}

static void apply_option(lua_State *L, ddb_config *cfg)
{
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "ddb.client: option names must be strings");
    const char *key = lua_tostring(L, -2);
    int i;
    if ((i = option_index(STRING_OPTIONS, key)) >= 0) {
        apply_string_option(L, cfg, i, key);
    } else if (apply_long_option(L, cfg, key)) {
        /* set */
    } else if (strcmp(key, "retry_multiplier") == 0) {
        lua_Number m = lua_tonumber(L, -1);
        if (!(m >= 1.0 && m <= 10.0)) luaL_error(L, "ddb.client: option 'retry_multiplier' must be a number from 1 to 10");
        cfg->retry.multiplier = m;
    } else {
        luaL_error(L, "ddb.client: unknown option '%s'", key);
    }
}

void bind_client_check_config(lua_State *L, int idx, ddb_config *cfg)
{
    char err[512];
    if (config_from_env(cfg, err, sizeof err) != 0) luaL_error(L, "ddb.client: %s", err);
    if (idx == 0 || lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    int endpoint_given = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        apply_option(L, cfg);
        if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "endpoint") == 0) endpoint_given = 1;
    }
    /* a region given without any endpoint setting moves the default endpoint along */
    lua_getfield(L, idx, "region");
    if (!lua_isnil(L, -1) && !endpoint_given && !config_endpoint_from_env() && config_default_endpoint(cfg, err, sizeof err) != 0)
        luaL_error(L, "ddb.client: %s", err);
    lua_pop(L, 1);
}

/* --- the client object --- */

ddb_client *bind_client_new(lua_State *L, const ddb_config *cfg)
{
    bind_client *lc = lua_newuserdatauv(L, sizeof *lc, 0);
    lc->c = NULL;   /* closed until built, so __gc is safe if we raise below */
    luaL_setmetatable(L, BIND_CLIENT_MT);
    ddb_error err;
    lc->c = ddb_client_new(cfg, &err);
    if (!lc->c) bind_client_raise(L, &err);
    return lc->c;
}

ddb_client *bind_client_check(lua_State *L, int idx)
{
    bind_client *lc = luaL_checkudata(L, idx, BIND_CLIENT_MT);
    if (!lc->c) luaL_error(L, "attempt to use a closed ddb client");
    return lc->c;
}

static int client_new(lua_State *L)
{
    ddb_config cfg;
    bind_client_check_config(L, 1, &cfg);
    bind_client_new(L, &cfg);
    config_clear(&cfg);
    return 1;
}

static int client_close(lua_State *L)
{
    bind_client *lc = luaL_checkudata(L, 1, BIND_CLIENT_MT);
    ddb_client_free(lc->c);
    lc->c = NULL;
    return 0;
}

/* client:call(Operation, request) -> response table */
static int client_call(lua_State *L)
{
    ddb_client *c = bind_client_check(L, 1);
    const char *op = luaL_checkstring(L, 2);
    size_t oplen = strspn(op, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    if (oplen == 0 || oplen > 64 || op[oplen] != '\0')
        return luaL_error(L, "'%s' is not a DynamoDB operation name (letters only, like PutItem)", op);
    if (lua_isnoneornil(L, 3)) lua_newtable(L), lua_replace(L, 3);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    json_t **response = bind_json_box(L);   /* 4 */
    char msg[512];
    json_t *request = marshal_request(L, 3, msg, sizeof msg);
    if (!request) {
        lua_pushfstring(L, "%s: %s", op, msg);   /* no position: it would name ddb.lua, not the caller */
        return lua_error(L);
    }
    char *body = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    if (!body) return luaL_error(L, "%s: out of memory encoding the request", op);
    ddb_error err;
    int rc = ddb_client_call(c, op, body, strlen(body), NULL, response, &err);
    free(body);
    if (rc != 0) return bind_client_raise(L, &err);
    marshal_push_response(L, *response);
    bind_json_box_release(L, -2);
    return 1;
}

/* info.credentials = { source = "...", expiration = "2026-...Z" or nil }; never the keys. */
static void push_credentials_info(lua_State *L, ddb_client *c)
{
    char source[320], when[32];
    long long expiration_ms;
    ddb_error err;
    if (ddb_client_credentials(c, source, sizeof source, &expiration_ms, &err) != 0) bind_client_raise(L, &err);
    lua_createtable(L, 0, 2);
    bind_set_string(L, "source", source);
    creds_format_time(expiration_ms, when);
    if (expiration_ms) bind_set_string(L, "expiration", when);
    lua_setfield(L, -2, "credentials");
}

static int client_info(lua_State *L)
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
    push_credentials_info(L, bind_client_check(L, 1));
    return 1;
}

static int client_tostring(lua_State *L)
{
    bind_client *lc = luaL_checkudata(L, 1, BIND_CLIENT_MT);
    if (!lc->c) lua_pushliteral(L, "ddb.Client (closed)");
    else lua_pushfstring(L, "ddb.Client (%s)", ddb_client_config(lc->c)->endpoint);
    return 1;
}

/* --- module functions --- */

static int push_pair(void *ud, const char *key, const char *value)
{
    lua_State *L = ud;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
    return 0;
}

/* parse_env(text [, filename]) -> table of settings; raises "FILE:LINE: problem". */
static int parse_env(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, ".env");
    char err[512];
    lua_newtable(L);
    if (dotenv_parse(text, len, name, push_pair, L, err, sizeof err) != 0) return luaL_error(L, "%s", err);
    return 1;
}

static int sleep_ms(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 0 && ms <= 3600000, 1, "milliseconds out of range");
    retry_sleep_ms((int)ms);
    return 0;
}

static const luaL_Reg client_methods[] = {
    { "call", client_call },
    { "info", client_info },
    { "close", client_close },
    { NULL, NULL },
};

static const luaL_Reg client_meta[] = {
    { "__gc", client_close },
    { "__close", client_close },
    { "__tostring", client_tostring },
    { NULL, NULL },
};

static const luaL_Reg module_functions[] = {
    { "client", client_new },
    { "parse_env", parse_env },
    { "sleep_ms", sleep_ms },
    { NULL, NULL },
};

void bind_client_register(lua_State *L)
{
    bind_gc_metatable(L, JSON_BOX_MT, json_box_gc);

    luaL_newmetatable(L, BIND_ERROR_MT);
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setfield(L, -2, "Error");

    luaL_newmetatable(L, BIND_CLIENT_MT);
    luaL_setfuncs(L, client_meta, 0);
    luaL_newlib(L, client_methods);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "Client");

    luaL_setfuncs(L, module_functions, 0);
}
