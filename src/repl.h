/* The interactive prompt (`ddbrun` on a terminal, `ddbrun -i`): GNU readline
 * line editing and history, `ddb` and a lazy `client` as globals, values
 * printed by lua/ddb/pretty.lua. */
#ifndef DDBRUN_REPL_H
#define DDBRUN_REPL_H

#include <lua.h>

/* Reads, evaluates and prints until end of input (Ctrl-D) on stdin, with L
 * (borrowed, left open). Returns the exit status: EXIT_SUCCESS, or
 * EXIT_FAILURE when the prompt could not be set up. Errors in what the user
 * types are printed and the prompt goes on. */
int repl_run(lua_State *L, const char *progname);

#endif
