/* Lua options tables applied through an option_spec table (options.h), and
 * the client configuration that ddb.client, ddb.records and ddb.processor
 * resolve from the environment and their options. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "bind.h"
#include "runtime.h"

/* Sets opt from the Lua value on top of the stack; raises "<label> must be ..." */
static void bind_options_set(lua_State *L, void *base, const option_spec *opt, const char *label)
{
    char err[512];
    int isnum = 0;
    int rc = 0;
    size_t len = 0;
    const char *s = NULL;
    lua_Integer i;
    lua_Number d;
    switch (opt->type) {
    case OPTION_WHOLE:
        i = lua_tointegerx(L, -1, &isnum);
        rc = isnum ? options_set_whole(base, opt, (long long)i, label, err, sizeof err) : -1;
        break;
    case OPTION_NUMBER:
        d = lua_tonumberx(L, -1, &isnum);
        rc = isnum ? options_set_number(base, opt, (double)d, label, err, sizeof err) : -1;
        break;
    case OPTION_BOOLEAN:
        rc = lua_isboolean(L, -1) ? 0 : -1;
        if (rc == 0)
            options_set_boolean(base, opt, lua_toboolean(L, -1));
        break;
    case OPTION_STRING:
    case OPTION_CHOICE:
        s = lua_tolstring(L, -1, &len);   /* a number is taken as its text, as Lua does */
        if (!s)
            rc = -1;
        else if (opt->type == OPTION_STRING)
            rc = options_set_string(base, opt, s, len, label, err, sizeof err);
        else
            rc = options_set_choice(base, opt, s, label, err, sizeof err);
        break;
    }
    if (rc == 0)
        return;
    if (!(opt->type == OPTION_STRING && s))
        options_rule(opt, label, err, sizeof err);
    luaL_error(L, "%s", err);
}

void bind_apply_options(lua_State *L, int idx, const char *who, const option_table *table, void *base,
                        bind_option_fn extra, void *ud)
{
    char label[128];
    idx = lua_absindex(L, idx);
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: option names must be strings", who);
        const char *key = lua_tostring(L, -2);
        const option_spec *opt = options_find(table, key);
        snprintf(label, sizeof label, "%s: option '%.40s'", who, key);
        if (opt)
            bind_options_set(L, base, opt, label);
        else if (!extra || !extra(L, key, ud))
            luaL_error(L, "%s: unknown option '%s'", who, key);
    }
}

/* True when the options table at idx sets field. */
static int bind_options_given(lua_State *L, int idx, const char *field)
{
    int given = lua_getfield(L, idx, field) != LUA_TNIL;
    lua_pop(L, 1);
    return given;
}

static void bind_config_apply(lua_State *L, int idx, ddb_config *cfg);

void bind_config_resolve(lua_State *L, int idx, ddb_config *cfg)
{
    char err[512];
    struct creds_registry *creds = runtime_creds_of(L);
    if (!creds)
        luaL_error(L, "ddb.client: this Lua state has no credential cache (runtime_set_creds)");
    if (config_from_env(cfg, NULL, err, sizeof err) != 0)
        luaL_error(L, "ddb.client: %s", err);
    if (idx != 0 && !lua_isnoneornil(L, idx))
        bind_config_apply(L, idx, cfg);
    /* after the options: their region and ca_bundle key the credential cache (STS region) */
    if (config_rekey_credentials(cfg, creds, err, sizeof err) != 0)
        luaL_error(L, "ddb.client: %s", err);
    cfg->throttle = bind_client_throttle(L, (throttle_mode)cfg->retry_mode);
}

/* The options table at idx over the environment's settings. */
static void bind_config_apply(lua_State *L, int idx, ddb_config *cfg)
{
    char err[512];
    luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    bind_apply_options(L, idx, "ddb.client", &config_option_table, cfg, NULL, NULL);
    if (bind_options_given(L, idx, "access_key_id") || bind_options_given(L, idx, "secret_access_key") ||
        bind_options_given(L, idx, "session_token"))
        snprintf(cfg->static_source, sizeof cfg->static_source, "ddb.client options");
    /* a region given without any endpoint setting moves the default endpoint along */
    if (bind_options_given(L, idx, "region") && !bind_options_given(L, idx, "endpoint") &&
        !config_endpoint_from_env() && config_default_endpoint(cfg, err, sizeof err) != 0)
        luaL_error(L, "ddb.client: %s", err);
}
