/* ddbrun: runs a Lua 5.4 script with the ddb module available, the way lua5.4 does. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <openssl/opensslv.h>
#include <openssl/crypto.h>

#include "dotenv.h"
#include "bind.h"
#include "repl.h"
#include "creds.h"
#include "runtime.h"

static const char *const PROGNAME = "ddbrun";

static void print_usage(FILE *f)
{
    fprintf(f,
        "usage: %s [options] [script [args]]\n"
        "Available options are:\n"
        "  -e stat    execute string 'stat'\n"
        "  -i         enter interactive mode after executing 'script'\n"
        "  -l mod     require library 'mod' into global 'mod'\n"
        "  -E         ignore environment variables (LUA_INIT, LUA_PATH, LUA_CPATH)\n"
        "  -W         turn warnings on\n"
        "  -v         show version information\n"
        "  -h         show this help\n"
        "  --env FILE read environment settings from FILE instead of ./.env\n"
        "  --no-env   do not read ./.env\n"
        "  --         stop handling options\n"
        "  -          stop handling options and execute stdin\n"
        "The script gets its arguments in the global 'arg' and in '...'.\n", PROGNAME);
}

static void print_version(void)
{
    curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    printf("ddbrun %s (%s, libcurl %s, %s, jansson %s)\n", DDBRUN_VERSION, LUA_RELEASE,
           curl->version, OpenSSL_version(OPENSSL_VERSION), jansson_version_str());
}

typedef struct options {
    int script;          /* index in argv of the script, or argc when none */
    int version, help;
    int no_env;
    int ignore_lua_env, warnings;
    int interactive;
    const char *env_file;
} options;

/* Returns 0, or -1 after printing what is wrong. Like lua.c, -e and -l are
 * only checked here and run later, in order. */
static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-v") == 0) o->version = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) o->help = 1;
        else if (strcmp(a, "--no-env") == 0) o->no_env = 1;
        else if (strcmp(a, "-E") == 0) o->ignore_lua_env = 1;
        else if (strcmp(a, "-W") == 0) o->warnings = 1;
        else if (strcmp(a, "-i") == 0) o->interactive = 1;
        else if (strcmp(a, "--env") == 0 || strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "%s: '%s' needs an argument\n", PROGNAME, a);
                return -1;
            }
            if (strcmp(a, "--env") == 0) o->env_file = argv[i];
        } else {
            fprintf(stderr, "%s: unrecognized option '%s'\n", PROGNAME, a);
            print_usage(stderr);
            return -1;
        }
    }
    o->script = i;
    return 0;
}

static int has_code_option(char **argv, int script)
{
    for (int i = 1; i < script; i++)
        if (strcmp(argv[i], "-e") == 0) return 1;
    return 0;
}

static int load_env(const options *o)
{
    char err[512];
    const char *path = o->env_file ? o->env_file : ".env";
    if (!o->env_file && (o->no_env || access(path, F_OK) != 0)) return 0;
    if (dotenv_load(path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROGNAME, err);
        return -1;
    }
    return 0;
}

/* Runs the function on top of the stack with nargs arguments under the
 * traceback handler; prints the error and returns its status. */
static int run_protected(lua_State *L, int nargs)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, runtime_traceback);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, 0, base);
    lua_remove(L, base);
    if (status != LUA_OK) {
        fprintf(stderr, "%s: %s\n", PROGNAME, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status;
}

static int report_load(lua_State *L, int status)
{
    if (status != LUA_OK) {
        fprintf(stderr, "%s: %s\n", PROGNAME, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status;
}

/* arg[0] is the script, negative indices the interpreter and its options,
 * positive ones the script's arguments — exactly as lua.c builds it. */
static void create_arg_table(lua_State *L, int argc, char **argv, int script)
{
    if (script == argc) script = 0;   /* no script: arg[0] is the interpreter, as in lua.c */
    lua_createtable(L, argc > script ? argc - script - 1 : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int run_code_options(lua_State *L, int script, char **argv)
{
    for (int i = 1; i < script; i++) {
        if (strcmp(argv[i], "-e") == 0) {
            i++;
            if (report_load(L, luaL_loadbuffer(L, argv[i], strlen(argv[i]), "=(command line)")) ||
                run_protected(L, 0))
                return -1;
        } else if (strcmp(argv[i], "-l") == 0) {
            i++;
            lua_getglobal(L, "require");
            lua_pushstring(L, argv[i]);
            lua_pushcfunction(L, runtime_traceback);
            lua_insert(L, -3);
            if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
                fprintf(stderr, "%s: %s\n", PROGNAME, lua_tostring(L, -1));
                lua_pop(L, 2);
                return -1;
            }
            lua_setglobal(L, argv[i]);
            lua_pop(L, 1);
        } else if (strcmp(argv[i], "--env") == 0) {
            i++;
        }
    }
    return 0;
}

static int run_script(lua_State *L, int argc, char **argv, int script)
{
    const char *name = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
    if (name && access(name, R_OK) != 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", PROGNAME, name,
                access(name, F_OK) == 0 ? "permission denied" : "no such file");
        return -1;
    }
    if (report_load(L, luaL_loadfile(L, name))) return -1;
    int nargs = argc - script - 1;
    luaL_checkstack(L, nargs, "too many arguments to script");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    return run_protected(L, nargs) == LUA_OK ? 0 : -1;
}

/* LUA_INIT_5_4 or LUA_INIT: "@file" runs the file, anything else is code. */
static int run_lua_init(lua_State *L)
{
    const char *name = "=LUA_INIT_5_4", *init = getenv(name + 1);
    if (!init) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (!init) return 0;
    int status = init[0] == '@' ? luaL_loadfile(L, init + 1) : luaL_loadbuffer(L, init, strlen(init), name);
    return report_load(L, status) || run_protected(L, 0) ? -1 : 0;
}

static int run(lua_State *L, int argc, char **argv, const options *o)
{
    create_arg_table(L, argc, argv, o->script);
    if (o->warnings) lua_warning(L, "@on", 0);
    if (!o->ignore_lua_env && run_lua_init(L) != 0) return EXIT_FAILURE;
    if (run_code_options(L, o->script, argv) != 0) return EXIT_FAILURE;
    if (o->script < argc && run_script(L, argc, argv, o->script) != 0) return EXIT_FAILURE;
    if (o->interactive) return repl_run(L, PROGNAME);
    if (o->script < argc || has_code_option(argv, o->script) || o->version) return EXIT_SUCCESS;
    if (isatty(STDIN_FILENO)) return repl_run(L, PROGNAME);
    char *dash[] = { "-" };
    return run_script(L, 1, dash, 0) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o) != 0) return EXIT_FAILURE;
    if (o.help) {
        print_usage(stdout);
        return EXIT_SUCCESS;
    }
    if (o.version) print_version();
    if (load_env(&o) != 0) return EXIT_FAILURE;

    /* Once, before any thread exists (libcurl's rule); writes to a closed
     * socket must return an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", PROGNAME);
        return EXIT_FAILURE;
    }
    char lua_dir[4096];
    lua_State *L = runtime_new_state(runtime_find_lua_dir(lua_dir, sizeof lua_dir) == 0 ? lua_dir : NULL,
                                     o.ignore_lua_env);
    if (!L) {
        fprintf(stderr, "%s: cannot create Lua state: not enough memory\n", PROGNAME);
        curl_global_cleanup();
        return EXIT_FAILURE;
    }
    runtime_host host = { 0 };
    host.creds = creds_registry_new();
    if (!host.creds) {
        fprintf(stderr, "%s: cannot create the credential cache: not enough memory\n", PROGNAME);
        lua_close(L);
        curl_global_cleanup();
        return EXIT_FAILURE;
    }
    runtime_set_host(L, &host);
    runtime_set_creds(L, host.creds);
    int status = run(L, argc, argv, &o);
    if (status == EXIT_SUCCESS && host.exit_status != 0)
        status = host.exit_status;   /* as a shell reports the signal that stopped the run */
    lua_close(L);   /* joins the workers, frees every client */
    creds_registry_free(host.creds);
    curl_global_cleanup();
    return status;
}
