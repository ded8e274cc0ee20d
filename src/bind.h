/* The Lua bindings: module ddb.core (bind_ddb.c) with one file per object
 * type (bind_client.c, bind_records.c, bind_processor.c), and what they share. */
#ifndef DDBRUN_BIND_H
#define DDBRUN_BIND_H

#include <lua.h>

#include "client.h"
#include "config.h"

/* Opens the native module; preloaded as "ddb.core" in every state. */
int luaopen_ddb_core(lua_State *L);

#define BIND_CLIENT_MT "ddb.Client"
#define BIND_ERROR_MT  "ddb.Error"

/* Creates the metatable `name` in the registry with only a __gc: for
 * userdata that own C memory (freed when collected, even after a raise). */
void bind_gc_metatable(lua_State *L, const char *name, lua_CFunction gc);

/* t[field] = value for the table on top; a NULL value sets nothing. */
void bind_set_string(lua_State *L, const char *field, const char *value);
void bind_set_integer(lua_State *L, const char *field, lua_Integer value);

/* Copies the table or index name on top of the stack into dst; raises
 * "<who>: option '<field>' must be a table or index name" when it is not a
 * non-empty string that fits. */
void bind_copy_name(lua_State *L, const char *who, const char *field, char *dst, size_t size);

/* Adds client(), parse_env() and friends to the module table on top. */
void bind_client_register(lua_State *L);

/* Adds records() and Records to the module table on top. */
void bind_records_register(lua_State *L);

/* Adds processor() and Processor to the module table on top. */
void bind_processor_register(lua_State *L);

/* Pushes a ddb.Error table {code, message, status, retryable, request_id, attempts}. */
void bind_client_push_error(lua_State *L, const ddb_error *err);

/* Raises err as a ddb.Error value. */
int bind_client_raise(lua_State *L, const ddb_error *err);

/* Resolves a configuration from the environment overridden by the options
 * table at idx (0 or an absent argument: none). Raises on a bad option or setting. */
void bind_client_check_config(lua_State *L, int idx, ddb_config *cfg);

/* The C client behind the ddb.Client at idx (raises if it is closed). */
ddb_client *bind_client_check(lua_State *L, int idx);

/* Pushes a new ddb.Client for cfg; raises on failure. */
ddb_client *bind_client_new(lua_State *L, const ddb_config *cfg);

/* Pushes an empty userdata that will own a json_t reference (store it in the
 * returned slot) and frees it when collected: made before the reference
 * exists, so no Lua error can leak it. */
json_t **bind_json_box(lua_State *L);
/* Frees the boxed reference at idx now. */
void bind_json_box_release(lua_State *L, int idx);

#endif
