/* Creating Lua states the way ddbrun runs scripts: standard libraries, the
 * native module preloaded as "ddb.core", and the project's Lua modules on
 * package.path. Used by main and by every processor worker. */
#ifndef DDBRUN_RUNTIME_H
#define DDBRUN_RUNTIME_H

#include <lua.h>

#include "version.h"

/* A new state, or NULL when out of memory. lua_dir (may be NULL) is put in
 * front of package.path as "<lua_dir>/?.lua;<lua_dir>/?/init.lua".
 * ignore_env: package.path/cpath ignore LUA_PATH/LUA_CPATH (lua5.4 -E). */
lua_State *runtime_new_state(const char *lua_dir, int ignore_env);

/* The message handler used for every protected call into Lua: turns the
 * error value into a string (using __tostring) and appends a traceback. */
int runtime_traceback(lua_State *L);

/* Finds the directory holding ddb.lua next to the running executable:
 * <exe>/../share/ddbrun/lua (installed), <exe>/../lua or <exe>/../../lua
 * (source tree). Writes it into out and returns 0, or returns -1. */
int runtime_find_lua_dir(char *out, size_t size);

/* What the program running the script (main.c) learns from the bindings
 * besides the script's own status. One per program, owned by it. */
typedef struct runtime_host {
    int exit_status;    /* 0, or the status to exit with when the script ends
                           without error: 130 after SIGINT, 143 after SIGTERM
                           stopped a processor run */
    struct creds_registry *creds;   /* the credential caches; owned, freed by
                                       main after lua_close (see creds.h) */
} runtime_host;

/* Attaches h (which outlives L) to L. */
void runtime_set_host(lua_State *L, runtime_host *h);

/* The host attached to L, or NULL (worker states have none). */
runtime_host *runtime_host_of(lua_State *L);

struct creds_registry;
/* Attaches the program's credential caches (which outlive L) to L: main's
 * state and every worker state get the same one. */
void runtime_set_creds(lua_State *L, struct creds_registry *creds);
/* The registry attached to L, or NULL. */
struct creds_registry *runtime_creds_of(lua_State *L);

#endif
