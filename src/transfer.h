/* Carrying a Lua value (above all the record callback, with its upvalues)
 * from one lua_State into another: the main state into each worker's state.
 *
 * Data is copied (integers stay integers, strings keep NUL bytes, tables are
 * deep-copied with shared references and cycles kept); the global table and
 * loaded modules are not copied but map to the destination's own (require);
 * functions are dumped with debug info and reloaded, upvalues carried by the
 * same rules and kept shared where they were shared. Coroutines, userdata
 * (other than ddb.null), light userdata and C functions that are not a field
 * of a loaded module are refused with a message naming where they were.
 * Both states must be distinct and used only by the calling thread. */
#ifndef DDBRUN_TRANSFER_H
#define DDBRUN_TRANSFER_H

#include <stddef.h>

#include <lua.h>

/* Tables and functions nested deeper than this are refused. */
#define TRANSFER_MAX_DEPTH 100

/* Copies the value at idx in `from` onto the top of `to`'s stack. `name` names
 * the value in errors (e.g. "callback"). Returns 0, or -1 with a message in
 * err that names the variable, e.g.
 *   "cannot carry upvalue 'client' of callback into a worker: it is a ddb.Client (userdata); create it inside the callback or use ctx.client"
 * On failure `to`'s stack is as it was. from's stack is unchanged either way.
 * Never raises. Modules are require()d in `to` (they stay loaded there even
 * when the copy fails later). */
int transfer_value(lua_State *from, int idx, lua_State *to, const char *name, char *err, size_t errlen);

/* The walk of transfer_value without a destination, so a callback can be
 * refused before any worker state exists: returns 0 when transfer_value
 * would accept the value, or -1 with the same message in err. Only what
 * depends on the destination can still fail later (require of a module,
 * a module field missing there). from's stack is unchanged. Never raises. */
int transfer_check(lua_State *from, int idx, const char *name, char *err, size_t errlen);

#endif
