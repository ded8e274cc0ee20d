/* The Lua bindings: module ddb.core. Where things are:
 *   bind_ddb.c        the module, and what every binding shares: table
 *                     setters, names, ddb.Error, the JSON box, parse_env, sleep_ms
 *   bind_options.c    options tables through option_spec tables, client configuration
 *   bind_values.c     ddb.null, set, binary, number, list, map, is_null, type_of
 *   bind_client.c     ddb.Client
 *   bind_records.c    ddb.Records
 *   bind_processor.c  ddb.Processor */
#ifndef DDBRUN_BIND_H
#define DDBRUN_BIND_H

#include <lua.h>

#include "client.h"
#include "config.h"
#include "options.h"

/* Opens the native module; preloaded as "ddb.core" in every state. */
int luaopen_ddb_core(lua_State *L);

#define BIND_CLIENT_MT "ddb.Client"
#define BIND_ERROR_MT  "ddb.Error"

/* --- shared helpers (bind_ddb.c) --- */

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

/* Pushes a ddb.Error table {code, message, status, retryable, request_id, attempts}. */
void bind_push_error(lua_State *L, const ddb_error *err);

/* Raises err as a ddb.Error value. */
int bind_raise_error(lua_State *L, const ddb_error *err);

/* Pushes an empty userdata that will own a json_t reference (store it in the
 * returned slot) and frees it when collected: made before the reference
 * exists, so no Lua error can leak it. */
json_t **bind_json_box(lua_State *L);
/* Frees the boxed reference at idx now. */
void bind_json_box_release(lua_State *L, int idx);

/* --- options (bind_options.c) --- */

/* Handles an option that is not in the table: key names it, its value is on
 * top of the stack. Returns 1 when it took it, 0 when it does not know it. */
typedef int (*bind_option_fn)(lua_State *L, const char *key, void *ud);

/* Applies the Lua options table at idx to the settings struct at base: an
 * option in table is checked and set by its type, any other goes to extra
 * (may be NULL). Raises "<who>: option 'x' must be ...", "<who>: unknown
 * option 'x'" or "<who>: option names must be strings". */
void bind_apply_options(lua_State *L, int idx, const char *who, const option_table *table, void *base,
                        bind_option_fn extra, void *ud);

/* Resolves a configuration from the environment overridden by the options
 * table at idx (0 or an absent argument: none). Raises on a bad option or setting. */
void bind_config_resolve(lua_State *L, int idx, ddb_config *cfg);

/* --- the objects --- */

/* Pushes a table with the value constructors null, set, binary, number, list,
 * map, is_null and type_of (what marshal_value would write: "S", "N", ...,
 * or nil and the reason it cannot be stored), after giving the value types'
 * metatables their methods. ddb.number raises on bad syntax. */
void bind_values_open(lua_State *L);

/* Adds client() and Client to the module table on top. */
void bind_client_register(lua_State *L);

/* The C client behind the ddb.Client at idx (raises if it is closed). */
ddb_client *bind_client_check(lua_State *L, int idx);

/* Pushes a new ddb.Client for cfg; raises on failure. */
ddb_client *bind_client_new(lua_State *L, const ddb_config *cfg);

/* Adds records() and Records to the module table on top. */
void bind_records_register(lua_State *L);

/* Adds processor() and Processor to the module table on top. */
void bind_processor_register(lua_State *L);


#endif
