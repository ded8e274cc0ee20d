/* ddb.Processor: runs a Lua callback for every unprocessed record on worker
 * threads. Each worker gets its own lua_State, built here on the calling
 * thread before any thread starts, and closed here after they all stopped. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "bind.h"
#include "marshal.h"
#include "processor.h"
#include "runtime.h"
#include "transfer.h"

#define BIND_PROCESSOR_MT "ddb.Processor"
#define BIND_WORKERS_MT   "ddb.ProcessorWorkers"
#define BIND_RESULT_MT    "ddb.ProcessorResult"
#define INTERRUPTED_KEY  "ddbrun.interrupted"

typedef struct bind_processor {
    processor_options o;
    ddb_config cfg;
} bind_processor;

typedef struct worker_state {
    lua_State *L;
    int fn_ref, ctx_ref;
    long timeout_ms;
    struct timespec deadline;
    int timed_out;
    long long lease;    /* the current record's fencing token, -1 without leases */
} worker_state;

typedef struct workers {
    int count;
    worker_state *w;
    void **data;      /* &w[i], as processor_run takes it */
} workers;

/* --- options --- */

static void apply_option(lua_State *L, bind_processor *p)
{
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "ddb.processor: option names must be strings");
    const char *key = lua_tostring(L, -2);
    char label[96], err[160];
    snprintf(label, sizeof label, "ddb.processor: option '%.40s'", key);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    /* a non-integer is pushed out of every range, so it gets the same message */
    int set = processor_option_set(&p->o, key, ok && v >= LONG_MIN && v <= LONG_MAX ? (long)v : LONG_MIN,
                                   label, err, sizeof err);
    if (set < 0) luaL_error(L, "%s", err);
    if (set > 0) return;
    if (strcmp(key, "backoff_multiplier") == 0) {
        lua_Number m = lua_tonumber(L, -1);
        if (!(m >= 1 && m <= 10)) luaL_error(L, "ddb.processor: option 'backoff_multiplier' must be a number from 1 to 10");
        p->o.backoff_multiplier = m;
    } else if (strcmp(key, "progress") == 0 || strcmp(key, "summary") == 0) {
        if (!lua_isboolean(L, -1)) luaL_error(L, "ddb.processor: option '%s' must be true or false", key);
        *(key[0] == 'p' ? &p->o.progress : &p->o.summary) = lua_toboolean(L, -1);
    } else if (strcmp(key, "table") == 0) {
        bind_copy_name(L, "ddb.processor", key, p->o.table.table, sizeof p->o.table.table);
    } else if (strcmp(key, "errors_file") == 0) {
        size_t len;
        const char *path = lua_tolstring(L, -1, &len);
        if (lua_type(L, -1) != LUA_TSTRING || len >= sizeof p->o.errors_file || strlen(path) != len)
            luaL_error(L, "ddb.processor: option 'errors_file' must be a file name (a string without NUL bytes)");
        memcpy(p->o.errors_file, path, len + 1);
    } else if (strcmp(key, "index") == 0) {
        bind_copy_name(L, "ddb.processor", key, p->o.table.index, sizeof p->o.table.index);
    } else if (strcmp(key, "client") == 0) {
        p->cfg = *ddb_client_config(bind_client_check(L, -1));
    } else {
        luaL_error(L, "ddb.processor: unknown option '%s'", key);
    }
}

static int processor_gc(lua_State *L)
{
    bind_processor *p = luaL_checkudata(L, 1, BIND_PROCESSOR_MT);
    config_clear(&p->cfg);
    return 0;
}

/* ddb.processor([options]) */
static int processor_new(lua_State *L)
{
    int has_opts = !lua_isnoneornil(L, 1);
    if (has_opts) luaL_checktype(L, 1, LUA_TTABLE);
    bind_processor *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    luaL_setmetatable(L, BIND_PROCESSOR_MT);
    char err[512];
    if (processor_options_from_env(&p->o, err, sizeof err) != 0) return luaL_error(L, "ddb.processor: %s", err);
    bind_client_check_config(L, 0, &p->cfg);
    if (has_opts)
        for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) apply_option(L, p);
    if (config_check(&p->cfg, err, sizeof err) != 0) return luaL_error(L, "ddb.processor: %s", err);
    return 1;
}

/* --- worker states --- */

static void close_workers(workers *ws)
{
    for (int i = 0; i < ws->count; i++)
        if (ws->w[i].L) lua_close(ws->w[i].L);
    free(ws->w);
    free(ws->data);
    ws->w = NULL, ws->data = NULL, ws->count = 0;
}

static int workers_gc(lua_State *L)
{
    close_workers(luaL_checkudata(L, 1, BIND_WORKERS_MT));
    return 0;
}

/* ctx.client's constructor: a client for the processor's configuration. */
static int new_worker_client(lua_State *L)
{
    bind_client_new(L, lua_touserdata(L, 1));
    return 1;
}

/* Runs in the worker state: set package.path/cpath as the caller's, require
 * ddb and build ctx = {worker = n}, whose client and records are created on
 * first use (a callback that never calls DynamoDB itself costs no
 * connection). Arguments: worker number, table name, index name, the
 * ddb_config as light userdata (it outlives the states), path, cpath. */
static int build_worker_context(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_pushvalue(L, 5);
    lua_setfield(L, -2, "path");
    lua_pushvalue(L, 6);
    lua_setfield(L, -2, "cpath");
    lua_settop(L, 4);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ddb");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "worker_context");
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_pushcfunction(L, new_worker_client);
    lua_pushvalue(L, 4);
    lua_call(L, 5, 1);
    return 1;
}

/* Pushes package[field] of L as a string (for handing it to a worker). */
static const char *package_field(lua_State *L, const char *field)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
    return lua_tostring(L, -1);
}

/* Builds worker i's state; returns 0, or -1 with a message in err. */
static int build_worker(lua_State *L, bind_processor *p, worker_state *w, int i, char *err, size_t errlen)
{
    lua_State *W = w->L = runtime_new_state(NULL, 1);   /* paths are copied from L below */
    if (!W) {
        snprintf(err, errlen, "not enough memory for worker %d's Lua state", i + 1);
        return -1;
    }
    *(worker_state **)lua_getextraspace(W) = w;
    w->timeout_ms = p->o.timeout_ms;
    lua_pushcfunction(W, runtime_traceback);
    lua_pushcfunction(W, build_worker_context);
    lua_pushinteger(W, i + 1);
    lua_pushstring(W, p->o.table.table);
    lua_pushstring(W, p->o.table.index);
    lua_pushlightuserdata(W, &p->cfg);
    lua_pushstring(W, package_field(L, "path"));
    lua_pushstring(W, package_field(L, "cpath"));
    lua_pop(L, 2);
    if (lua_pcall(W, 6, 1, 1) != LUA_OK) {
        snprintf(err, errlen, "worker %d: %s", i + 1, lua_tostring(W, -1));
        return -1;
    }
    w->ctx_ref = luaL_ref(W, LUA_REGISTRYINDEX);
    lua_settop(W, 0);
    if (transfer_value(L, 2, W, "callback", err, errlen) != 0) return -1;
    w->fn_ref = luaL_ref(W, LUA_REGISTRYINDEX);
    return 0;
}

static workers *build_workers(lua_State *L, bind_processor *p)
{
    workers *ws = lua_newuserdatauv(L, sizeof *ws, 0);
    memset(ws, 0, sizeof *ws);
    luaL_setmetatable(L, BIND_WORKERS_MT);
    int n = p->o.max_workers;
    ws->w = calloc((size_t)n, sizeof *ws->w);
    ws->data = calloc((size_t)n, sizeof *ws->data);
    if (!ws->w || !ws->data) luaL_error(L, "process_all: out of memory");
    char err[1024];
    for (int i = 0; i < n; i++) {
        ws->count = i + 1;
        ws->data[i] = &ws->w[i];
        if (build_worker(L, p, &ws->w[i], i, err, sizeof err) != 0) {
            close_workers(ws);   /* now rather than at collection */
            luaL_error(L, "process_all: %s", err);
        }
    }
    return ws;
}

/* --- running the callback in a worker --- */

static int past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void timeout_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    worker_state *w = *(worker_state **)lua_getextraspace(L);
    if (past(&w->deadline)) {
        w->timed_out = 1;
        luaL_error(L, "callback timed out after %d ms", (int)w->timeout_ms);
    }
}

/* Inside the protected call: callback(record, ctx). */
static int call_callback(lua_State *L)
{
    worker_state *w = *(worker_state **)lua_getextraspace(L);
    const json_t *item = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->fn_ref);
    marshal_push_item(L, item);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->ctx_ref);
    if (w->lease >= 0) lua_pushinteger(L, (lua_Integer)w->lease);
    else lua_pushnil(L);
    lua_setfield(L, -2, "lease");
    lua_call(L, 2, 2);
    /* a failure's reason becomes a string here, where __tostring may raise */
    if (!lua_isnil(L, 2) && lua_isnil(L, 1)) luaL_tolstring(L, 2, NULL), lua_replace(L, 2);
    return 2;
}

static void set_deadline(worker_state *w)
{
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    w->deadline.tv_sec += w->timeout_ms / 1000;
    w->deadline.tv_nsec += (w->timeout_ms % 1000) * 1000000L;
    if (w->deadline.tv_nsec >= 1000000000L) w->deadline.tv_sec++, w->deadline.tv_nsec -= 1000000000L;
}

/* A callback fails by raising, or by returning false or nil, message. */
static processor_callback_result run_in_worker(void *data, int worker, const json_t *item, long long lease,
                                              char *msg, size_t msglen)
{
    (void)worker;
    worker_state *w = data;
    w->lease = lease;
    lua_State *L = w->L;
    lua_settop(L, 0);
    lua_pushcfunction(L, runtime_traceback);
    lua_pushcfunction(L, call_callback);
    lua_pushlightuserdata(L, (void *)item);
    w->timed_out = 0;
    if (w->timeout_ms > 0) {
        set_deadline(w);
        lua_sethook(L, timeout_hook, LUA_MASKCOUNT, 1000);
    }
    int status = lua_pcall(L, 1, 2, 1);
    if (w->timeout_ms > 0) lua_sethook(L, NULL, 0, 0);
    processor_callback_result r = PROCESSOR_CALLBACK_OK;
    if (w->timed_out) {
        /* even if the callback caught the timeout error and returned */
        snprintf(msg, msglen, "callback timed out after %ld ms", w->timeout_ms);
        r = PROCESSOR_CALLBACK_TIMEOUT;
    } else if (status != LUA_OK) {
        snprintf(msg, msglen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error without a message");
        r = PROCESSOR_CALLBACK_ERROR;
    } else if ((lua_isboolean(L, 2) && !lua_toboolean(L, 2)) || (lua_isnil(L, 2) && !lua_isnil(L, 3))) {
        snprintf(msg, msglen, "%s", lua_isstring(L, 3) ? lua_tostring(L, 3) : "callback returned false");
        r = PROCESSOR_CALLBACK_ERROR;
    }
    lua_settop(L, 0);
    return r;
}

/* --- results --- */

static void push_errors(lua_State *L, const processor_result *r)
{
    lua_createtable(L, (int)r->error_count, 0);
    for (size_t i = 0; i < r->error_count; i++) {
        const processor_error *e = &r->errors[i];
        lua_createtable(L, 0, 5);
        bind_set_string(L, "AccountId", e->account_id);
        bind_set_string(L, "RunTime", e->run_time);
        bind_set_string(L, "kind", e->kind);
        bind_set_string(L, "error", e->message);
        bind_set_integer(L, "attempts", e->attempts);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void push_stats(lua_State *L, const processor_result *r, int workers)
{
    lua_createtable(L, 0, 7);
    bind_set_integer(L, "processed", r->processed);
    bind_set_integer(L, "failed", r->failed);
    bind_set_integer(L, "skipped", r->skipped);
    bind_set_integer(L, "workers", workers);
    bind_set_integer(L, "errors_lost", r->errors_lost);
    bind_set_integer(L, "parked", r->parked);
    lua_pushnumber(L, r->consumed_wcu);
    lua_setfield(L, -2, "consumed_wcu");
    lua_pushnumber(L, r->consumed_rcu);
    lua_setfield(L, -2, "consumed_rcu");
    lua_pushnumber(L, r->lease_wcu);
    lua_setfield(L, -2, "lease_wcu");
    lua_pushnumber(L, r->lease_rcu);
    lua_setfield(L, -2, "lease_rcu");
    lua_pushnumber(L, r->elapsed_s);
    lua_setfield(L, -2, "elapsed_s");
    lua_pushnumber(L, r->elapsed_s > 0 ? r->processed / r->elapsed_s : 0);
    lua_setfield(L, -2, "records_per_s");
    lua_pushboolean(L, r->interrupted);
    lua_setfield(L, -2, "interrupted");
}

static int result_gc(lua_State *L)
{
    processor_result_free(luaL_checkudata(L, 1, BIND_RESULT_MT));
    return 0;
}

/* processor:process_all(callback) -> errors, stats */
static int processor_process_all(lua_State *L)
{
    bind_processor *p = luaL_checkudata(L, 1, BIND_PROCESSOR_MT);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    char err_text[1024];
    /* refuse what cannot be carried before building any worker state */
    if (transfer_check(L, 2, "callback", err_text, sizeof err_text) != 0)
        return luaL_error(L, "process_all: %s", err_text);
    workers *ws = build_workers(L, p);
    processor_result *result = lua_newuserdatauv(L, sizeof *result, 0);
    memset(result, 0, sizeof *result);
    luaL_setmetatable(L, BIND_RESULT_MT);   /* frees the result even if pushing it raises */
    ddb_error err;
    int rc = processor_run(&p->o, &p->cfg, run_in_worker, ws->data, result, &err);
    close_workers(ws);
    if (result->interrupted) {
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, INTERRUPTED_KEY);
    }
    if (rc != 0) return bind_client_raise(L, &err);
    push_errors(L, result);
    push_stats(L, result, p->o.max_workers);
    return 2;
}

static int processor_options_table(lua_State *L)
{
    bind_processor *p = luaL_checkudata(L, 1, BIND_PROCESSOR_MT);
    lua_createtable(L, 0, 12);
    bind_set_integer(L, "max_workers", p->o.max_workers);
    bind_set_integer(L, "max_retries", p->o.max_retries);
    bind_set_integer(L, "backoff_base_ms", p->o.backoff_base_ms);
    lua_pushnumber(L, p->o.backoff_multiplier), lua_setfield(L, -2, "backoff_multiplier");
    bind_set_integer(L, "backoff_cap_ms", p->o.backoff_cap_ms);
    bind_set_integer(L, "callback_retries", p->o.callback_retries);
    bind_set_integer(L, "timeout_ms", p->o.timeout_ms);
    bind_set_integer(L, "lease_ms", p->o.lease_ms);
    bind_set_integer(L, "max_failures", p->o.max_failures);
    bind_set_integer(L, "max_errors", p->o.max_errors);
    bind_set_integer(L, "drain_timeout_ms", p->o.drain_timeout_ms);
    bind_set_string(L, "errors_file", p->o.errors_file);
    lua_pushboolean(L, p->o.progress), lua_setfield(L, -2, "progress");
    bind_set_string(L, "table", p->o.table.table);
    bind_set_string(L, "index", p->o.table.index);
    bind_set_string(L, "endpoint", p->cfg.endpoint);
    return 1;
}

static const luaL_Reg processor_methods[] = {
    { "process_all", processor_process_all },
    { "options", processor_options_table },
    { NULL, NULL },
};

void bind_processor_register(lua_State *L)
{
    bind_gc_metatable(L, BIND_WORKERS_MT, workers_gc);
    bind_gc_metatable(L, BIND_RESULT_MT, result_gc);

    luaL_newmetatable(L, BIND_PROCESSOR_MT);
    lua_pushcfunction(L, processor_gc);
    lua_setfield(L, -2, "__gc");
    luaL_newlib(L, processor_methods);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "Processor");

    lua_pushcfunction(L, processor_new);
    lua_setfield(L, -2, "processor");
}

int bind_processor_interrupted(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, INTERRUPTED_KEY);
    int interrupted = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return interrupted;
}
