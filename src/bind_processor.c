/* ddb.Processor: runs a Lua callback for every unprocessed record on worker
 * threads. Each worker gets its own lua_State, built here on the calling
 * thread before any thread starts, and closed here after they all stopped.
 * This file is the engine's host: it owns SIGINT/SIGTERM during a run, the
 * progress and summary lines, os.exit inside callbacks and the exit status
 * main.c reports; processor.c does none of that. */
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "bind.h"
#include "marshal.h"
#include "processor.h"
#include "report.h"
#include "runtime.h"
#include "sigwatch.h"
#include "transfer.h"

#define BIND_PROCESSOR_MT "ddb.Processor"
#define BIND_WORKERS_MT   "ddb.ProcessorWorkers"
#define BIND_RESULT_MT    "ddb.ProcessorResult"
#define BIND_CAP_MT       "ddb.ProcessorRequestCap"
#define BIND_ENGINE_MT    "ddb.ProcessorEngine"

/* How often the live terminal line is redrawn. */
#define BIND_PROGRESS_LINE_MS 200

typedef struct bind_processor {
    processor_options o;
    ddb_config cfg;
} bind_processor;

typedef struct bind_workers bind_workers;

typedef struct bind_worker_state {
    lua_State *L;
    bind_workers *ws;
    int fn_ref;
    int ctx_ref;
    long timeout_ms;
    struct timespec deadline;
    int timed_out;
    int called_exit;           /* this worker's callback called os.exit */
    long long lease;           /* the current record's fencing token, -1 without leases */
} bind_worker_state;

struct bind_workers {
    int count;
    bind_worker_state *w;
    void **data;               /* &w[i], as bind_processor_new takes it */
    processor *engine;         /* set once the engine exists */
    atomic_int exit_code;      /* -1, or the code of the first os.exit in a callback */
    atomic_int exit_close;     /* that call's `close` argument */
};

/* The host's side of one run, shared with the signal watcher. */
typedef struct bind_run {
    processor *engine;
    const processor_options *o;
    int signals;               /* SIGINT/SIGTERM seen; the watcher's only */
    int first_signal;          /* read after sigwatch_stop joined the watcher */
} bind_run;

/* --- options --- */

/* progress = true (a live line), false, or "log" (a plain line every progress_interval_ms). */
static int bind_processor_check_progress(lua_State *L)
{
    if (lua_isboolean(L, -1))
        return lua_toboolean(L, -1) ? PROCESSOR_PROGRESS_LINE : PROCESSOR_PROGRESS_OFF;
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "log") == 0)
        return PROCESSOR_PROGRESS_LOG;
    return luaL_error(L, "ddb.processor: option 'progress' must be true, false or \"log\"");
}

/* summary = true (one text line), false, or "json" (one JSON line). */
static int bind_processor_check_summary(lua_State *L)
{
    if (lua_isboolean(L, -1))
        return lua_toboolean(L, -1) ? PROCESSOR_SUMMARY_TEXT : PROCESSOR_SUMMARY_OFF;
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "json") == 0)
        return PROCESSOR_SUMMARY_JSON;
    return luaL_error(L, "ddb.processor: option 'summary' must be true, false or \"json\"");
}

/* The options that are not in the processor's table: progress and summary
 * (a boolean or a word), the Records table and index, and a client whose
 * endpoint and credentials to use. */
static int bind_processor_option(lua_State *L, const char *key, void *ud)
{
    bind_processor *p = ud;
    if (strcmp(key, "progress") == 0)
        p->o.progress = bind_processor_check_progress(L);
    else if (strcmp(key, "summary") == 0)
        p->o.summary = bind_processor_check_summary(L);
    else if (strcmp(key, "table") == 0)
        bind_copy_name(L, "ddb.processor", key, p->o.table.table, sizeof p->o.table.table);
    else if (strcmp(key, "index") == 0) {
        bind_copy_name(L, "ddb.processor", key, p->o.table.index, sizeof p->o.table.index);
        p->o.table.index_explicit = 1;
    } else if (strcmp(key, "client") == 0)
        p->cfg = *ddb_client_config(bind_client_check(L, -1));
    else
        return 0;
    return 1;
}

static int bind_processor_gc(lua_State *L)
{
    bind_processor *p = luaL_checkudata(L, 1, BIND_PROCESSOR_MT);
    config_clear(&p->cfg);
    return 0;
}

/* ddb.processor([options]) */
static int bind_processor_new(lua_State *L)
{
    int has_opts = !lua_isnoneornil(L, 1);
    if (has_opts) luaL_checktype(L, 1, LUA_TTABLE);
    bind_processor *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    luaL_setmetatable(L, BIND_PROCESSOR_MT);
    char err[512];
    if (processor_options_from_env(&p->o, err, sizeof err) != 0) return luaL_error(L, "ddb.processor: %s", err);
    bind_config_resolve(L, 0, &p->cfg);
    if (has_opts)
        bind_apply_options(L, 1, "ddb.processor", &processor_option_table, &p->o, bind_processor_option, p);
    if (config_check(&p->cfg, err, sizeof err) != 0) return luaL_error(L, "ddb.processor: %s", err);
    return 1;
}

/* --- worker states --- */

static void bind_processor_close_workers(bind_workers *ws)
{
    for (int i = 0; i < ws->count; i++) {
        if (ws->w[i].L)
            lua_close(ws->w[i].L);
    }
    free(ws->w);
    free(ws->data);
    ws->w = NULL;
    ws->data = NULL;
    ws->count = 0;
}

static int bind_processor_workers_gc(lua_State *L)
{
    bind_processor_close_workers(luaL_checkudata(L, 1, BIND_WORKERS_MT));
    return 0;
}

/* ctx.client's constructor: a client for the processor's configuration. */
static int bind_processor_worker_client(lua_State *L)
{
    bind_client_new(L, lua_touserdata(L, 1));
    return 1;
}

/* os.exit inside a callback. exit() on a worker thread would tear the process
 * down while the other workers are inside curl and OpenSSL, so it stops the
 * run instead; process_all then exits with this code from the main thread
 * once every worker stopped. The first call wins. It raises to leave the
 * callback; its record is neither marked nor counted as failed. */
static int bind_processor_worker_exit(lua_State *L)
{
    bind_worker_state *w = *(bind_worker_state **)lua_getextraspace(L);
    int code = EXIT_SUCCESS;
    if (lua_isboolean(L, 1))
        code = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    else
        code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
    w->called_exit = 1;
    int none = -1;
    if (atomic_compare_exchange_strong(&w->ws->exit_code, &none, code))
        atomic_store(&w->ws->exit_close, lua_toboolean(L, 2));
    if (w->ws->engine)
        processor_request_stop(w->ws->engine, PROCESSOR_STOP_EXIT);
    return luaL_error(L, "os.exit(%d) in a callback: the run stops, then ddbrun exits", code);
}

/* Runs in the worker state: set package.path/cpath as the caller's, replace
 * os.exit, require ddb and build ctx = {worker = n}, whose client and records
 * are created on first use (a callback that never calls DynamoDB itself costs
 * no connection). Arguments: worker number, table name, index name, the
 * ddb_config as light userdata (it outlives the states), path, cpath. */
static int bind_processor_worker_context(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_pushvalue(L, 5);
    lua_setfield(L, -2, "path");
    lua_pushvalue(L, 6);
    lua_setfield(L, -2, "cpath");
    lua_getglobal(L, "os");
    lua_pushcfunction(L, bind_processor_worker_exit);
    lua_setfield(L, -2, "exit");
    lua_settop(L, 4);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ddb");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "worker_context");
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_pushcfunction(L, bind_processor_worker_client);
    lua_pushvalue(L, 4);
    lua_call(L, 5, 1);
    return 1;
}

/* Pushes package[field] of L as a string (for handing it to a worker). */
static const char *bind_processor_package_field(lua_State *L, const char *field)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
    return lua_tostring(L, -1);
}

/* Builds worker i's state; returns 0, or -1 with a message in err. */
static int bind_processor_build_worker(lua_State *L, bind_processor *p, bind_workers *ws, int i,
                                       char *err, size_t errlen)
{
    bind_worker_state *w = &ws->w[i];
    lua_State *W = runtime_new_state(NULL, 1);   /* paths are copied from L below */
    w->L = W;
    if (!W) {
        snprintf(err, errlen, "not enough memory for worker %d's Lua state", i + 1);
        return -1;
    }
    *(bind_worker_state **)lua_getextraspace(W) = w;
    runtime_set_creds(W, runtime_creds_of(L));   /* a callback's ddb.client() shares the caches */
    w->ws = ws;
    bind_client_share_throttles(L, W);
    w->timeout_ms = p->o.timeout_ms;
    lua_pushcfunction(W, runtime_traceback);
    lua_pushcfunction(W, bind_processor_worker_context);
    lua_pushinteger(W, i + 1);
    lua_pushstring(W, p->o.table.table);
    if (p->o.table.index_explicit)
        lua_pushstring(W, p->o.table.index);
    else
        lua_pushnil(W);   /* ctx.records finds the table's index itself */
    lua_pushlightuserdata(W, &p->cfg);
    lua_pushstring(W, bind_processor_package_field(L, "path"));
    lua_pushstring(W, bind_processor_package_field(L, "cpath"));
    lua_pop(L, 2);
    if (lua_pcall(W, 6, 1, 1) != LUA_OK) {
        snprintf(err, errlen, "worker %d: %s", i + 1, lua_tostring(W, -1));
        return -1;
    }
    w->ctx_ref = luaL_ref(W, LUA_REGISTRYINDEX);
    lua_settop(W, 0);
    if (transfer_value(L, 2, W, "callback", err, errlen) != 0)
        return -1;
    w->fn_ref = luaL_ref(W, LUA_REGISTRYINDEX);
    return 0;
}

static bind_workers *bind_processor_build_workers(lua_State *L, bind_processor *p)
{
    bind_workers *ws = lua_newuserdatauv(L, sizeof *ws, 0);
    memset(ws, 0, sizeof *ws);
    atomic_init(&ws->exit_code, -1);
    luaL_setmetatable(L, BIND_WORKERS_MT);
    int n = p->o.max_workers;
    ws->w = calloc((size_t)n, sizeof *ws->w);
    ws->data = calloc((size_t)n, sizeof *ws->data);
    if (!ws->w || !ws->data)
        luaL_error(L, "process_all: out of memory");
    char err[1024];
    for (int i = 0; i < n; i++) {
        ws->count = i + 1;
        ws->data[i] = &ws->w[i];
        if (bind_processor_build_worker(L, p, ws, i, err, sizeof err) != 0) {
            bind_processor_close_workers(ws);   /* now rather than at collection */
            luaL_error(L, "process_all: %s", err);
        }
    }
    return ws;
}

/* --- running the callback in a worker --- */

static int bind_processor_past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec != deadline->tv_sec)
        return now.tv_sec > deadline->tv_sec;
    return now.tv_nsec >= deadline->tv_nsec;
}

static void bind_processor_timeout_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    bind_worker_state *w = *(bind_worker_state **)lua_getextraspace(L);
    if (bind_processor_past(&w->deadline)) {
        w->timed_out = 1;
        luaL_error(L, "callback timed out after %d ms", (int)w->timeout_ms);
    }
}

/* Inside the protected call: callback(record, ctx). */
static int bind_processor_call_callback(lua_State *L)
{
    bind_worker_state *w = *(bind_worker_state **)lua_getextraspace(L);
    const json_t *item = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->fn_ref);
    marshal_push_item(L, item);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->ctx_ref);
    if (w->lease >= 0)
        lua_pushinteger(L, (lua_Integer)w->lease);
    else
        lua_pushnil(L);
    lua_setfield(L, -2, "lease");
    lua_call(L, 2, 2);
    /* a failure's reason becomes a string here, where __tostring may raise */
    if (!lua_isnil(L, 2) && lua_isnil(L, 1)) {
        luaL_tolstring(L, 2, NULL);
        lua_replace(L, 2);
    }
    return 2;
}

static void bind_processor_set_deadline(bind_worker_state *w)
{
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    w->deadline.tv_sec += w->timeout_ms / 1000;
    w->deadline.tv_nsec += (w->timeout_ms % 1000) * 1000000L;
    if (w->deadline.tv_nsec >= 1000000000L) {
        w->deadline.tv_sec++;
        w->deadline.tv_nsec -= 1000000000L;
    }
}

/* The callback's return contract, for values (ok, reason) at stack slots 1
 * and 2: it fails by returning false (with an optional reason), or nil with a
 * reason (Lua's `return nil, err` idiom). Anything else, nothing included, is
 * success. */
static int bind_processor_returned_failure(lua_State *L)
{
    if (lua_isboolean(L, 1))
        return !lua_toboolean(L, 1);
    return lua_isnil(L, 1) && !lua_isnil(L, 2);
}

/* Runs the callback under the timeout; returns the status of lua_pcall with
 * (ok, reason) or the error on the stack. */
static int bind_processor_call(bind_worker_state *w, const json_t *item)
{
    lua_State *L = w->L;
    lua_settop(L, 0);
    lua_pushcfunction(L, runtime_traceback);
    lua_pushcfunction(L, bind_processor_call_callback);
    lua_pushlightuserdata(L, (void *)item);
    w->timed_out = 0;
    if (w->timeout_ms > 0) {
        bind_processor_set_deadline(w);
        lua_sethook(L, bind_processor_timeout_hook, LUA_MASKCOUNT, 1000);
    }
    int status = lua_pcall(L, 1, 2, 1);
    if (w->timeout_ms > 0)
        lua_sethook(L, NULL, 0, 0);
    lua_remove(L, 1);   /* the message handler */
    return status;
}

static processor_callback_result bind_processor_run_in_worker(void *data, int worker, const json_t *item,
                                                               long long lease, char *msg, size_t msglen)
{
    (void)worker;
    bind_worker_state *w = data;
    w->lease = lease;
    lua_State *L = w->L;
    if (atomic_load(&w->ws->exit_code) >= 0)
        return PROCESSOR_CALLBACK_ABANDONED;   /* a callback called os.exit: run nothing more */
    w->called_exit = 0;
    int status = bind_processor_call(w, item);
    processor_callback_result r = PROCESSOR_CALLBACK_OK;
    if (w->called_exit) {
        r = PROCESSOR_CALLBACK_ABANDONED;
    } else if (w->timed_out) {
        /* even if the callback caught the timeout error and returned */
        snprintf(msg, msglen, "callback timed out after %ld ms", w->timeout_ms);
        r = PROCESSOR_CALLBACK_TIMEOUT;
    } else if (status != LUA_OK) {
        snprintf(msg, msglen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error without a message");
        r = PROCESSOR_CALLBACK_ERROR;
    } else if (bind_processor_returned_failure(L)) {
        snprintf(msg, msglen, "%s", lua_isstring(L, 2) ? lua_tostring(L, 2) : "callback returned false");
        r = PROCESSOR_CALLBACK_ERROR;
    }
    lua_settop(L, 0);
    return r;
}

/* --- the host side of a run: signals, progress, summary, exit status --- */

/* On the signal watcher's thread. The first signal stops the run gracefully;
 * a second one exits at once, after flushing what the script wrote. */
static processor_stop_reason bind_processor_signal_reason(int sig)
{
    return sig == SIGTERM ? PROCESSOR_STOP_TERMINATE : PROCESSOR_STOP_INTERRUPT;
}

static void bind_processor_on_signal(void *host, int sig)
{
    bind_run *run = host;
    run->signals++;
    if (run->signals == 1) {
        run->first_signal = sig;
        fprintf(stderr, "\nddbrun: stopping: finishing the records in progress (press Ctrl-C again to abort)\n");
        fflush(stderr);
        processor_request_stop(run->engine, bind_processor_signal_reason(sig));
        return;
    }
    fprintf(stderr, "\nddbrun: aborted; records whose callbacks had not finished were not marked\n");
    fflush(NULL);   /* the script's buffered stdout and files */
    _exit(128 + sig);
}

/* On the thread that runs the processor, every progress interval. */
static void bind_processor_on_progress(void *host, const processor_stats *stats)
{
    bind_run *run = host;
    if (run->o->progress == PROCESSOR_PROGRESS_LOG)
        report_progress_log(stderr, stats);
    else
        report_progress_line(stderr, stats);
}

static long bind_processor_progress_interval(const processor_options *o)
{
    if (o->progress == PROCESSOR_PROGRESS_LINE)
        return BIND_PROGRESS_LINE_MS;
    if (o->progress == PROCESSOR_PROGRESS_LOG)
        return o->progress_interval_ms;
    return 0;
}

/* Runs the engine with the signal watcher around it. A signal that came after
 * the run finished still counts: the user asked to stop. Returns what
 * processor_run returns. */
static int bind_processor_execute(bind_run *run, processor_result *result, ddb_error *err)
{
    sigwatch *watch = sigwatch_start(bind_processor_on_signal, run);
    if (!watch) {
        ddb_error_set(err, "ThreadError", 0, "cannot start the signal watcher");
        return -1;
    }
    int rc = processor_run(run->engine, result, err);
    int late = sigwatch_stop(watch);
    if (run->signals > 0)
        result->stopped = bind_processor_signal_reason(run->first_signal);
    else if (late && result->stopped == PROCESSOR_STOP_NONE)
        result->stopped = bind_processor_signal_reason(late);
    return rc;
}

static void bind_processor_print_summary(const processor_options *o, const processor_result *r, int rc,
                                         const ddb_error *err)
{
    if (o->summary == PROCESSOR_SUMMARY_TEXT)
        report_summary_text(stderr, r, o->progress == PROCESSOR_PROGRESS_LINE);
    else if (o->summary == PROCESSOR_SUMMARY_JSON && report_summary_json(stderr, r, rc != 0 ? err : NULL) != 0)
        fprintf(stderr, "ddbrun: out of memory writing the JSON summary\n");
    else if (o->summary == PROCESSOR_SUMMARY_OFF && o->progress == PROCESSOR_PROGRESS_LINE)
        fputs("\r\033[K", stderr);   /* leave no half line behind */
}

/* The drain outlived drain_timeout_ms: callbacks still run on the worker
 * states, which therefore cannot be closed; the engine handed the leases
 * back. Say so and exit as the signal would have. */
static void bind_processor_give_up(const bind_run *run, const ddb_error *err)
{
    fprintf(stderr, "ddbrun: %s\n", err->message);
    fflush(NULL);
    _exit(128 + (run->first_signal ? run->first_signal : SIGTERM));
}

/* Tells main.c how the script should exit when it ends without error. */
static void bind_processor_set_exit_status(lua_State *L, processor_stop_reason stopped)
{
    runtime_host *host = runtime_host_of(L);
    if (!host || host->exit_status != 0)
        return;
    if (stopped == PROCESSOR_STOP_INTERRUPT)
        host->exit_status = 128 + SIGINT;
    else if (stopped == PROCESSOR_STOP_TERMINATE)
        host->exit_status = 128 + SIGTERM;
}

/* --- results --- */

static void bind_processor_push_errors(lua_State *L, const processor_result *r)
{
    lua_createtable(L, (int)r->error_count, 0);
    for (size_t i = 0; i < r->error_count; i++) {
        const processor_error *e = &r->errors[i];
        lua_createtable(L, 0, 5);
        lua_pushlstring(L, e->account_id, e->account_id_len);
        lua_setfield(L, -2, "AccountId");
        lua_pushlstring(L, e->run_time, e->run_time_len);
        lua_setfield(L, -2, "RunTime");
        bind_set_string(L, "kind", e->kind);
        bind_set_string(L, "error", e->message);
        bind_set_integer(L, "attempts", e->attempts);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void bind_processor_push_stats(lua_State *L, const processor_result *r, int workers)
{
    const processor_stats *s = &r->stats;
    lua_createtable(L, 0, 12);
    bind_set_integer(L, "processed", s->processed);
    bind_set_integer(L, "failed", s->failed);
    bind_set_integer(L, "skipped", s->skipped);
    bind_set_integer(L, "parked", s->parked);
    bind_set_integer(L, "workers", workers);
    bind_set_integer(L, "errors_lost", r->errors_lost);
    lua_pushnumber(L, s->elapsed_s);
    lua_setfield(L, -2, "elapsed_s");
    lua_pushnumber(L, s->elapsed_s > 0 ? s->processed / s->elapsed_s : 0);
    lua_setfield(L, -2, "records_per_s");
    if (s->capacity_metered) {
        lua_pushnumber(L, s->consumed_wcu);
        lua_setfield(L, -2, "consumed_wcu");
        lua_pushnumber(L, s->consumed_rcu);
        lua_setfield(L, -2, "consumed_rcu");
        lua_pushnumber(L, s->lease_wcu);
        lua_setfield(L, -2, "lease_wcu");
        lua_pushnumber(L, s->lease_rcu);
        lua_setfield(L, -2, "lease_rcu");
    }
    lua_pushboolean(L, r->stopped == PROCESSOR_STOP_INTERRUPT || r->stopped == PROCESSOR_STOP_TERMINATE);
    lua_setfield(L, -2, "interrupted");
    bind_set_string(L, "stopped", report_stop_name(r->stopped));
}

/* The run could not finish (the GSI could not be read): raise err as a
 * ddb.Error that also carries what was done, as .errors and .stats. */
static int bind_processor_raise_with_result(lua_State *L, const ddb_error *err, const processor_result *r,
                                            int workers)
{
    bind_push_error(L, err);
    bind_processor_push_errors(L, r);
    lua_setfield(L, -2, "errors");
    bind_processor_push_stats(L, r, workers);
    lua_setfield(L, -2, "stats");
    return lua_error(L);
}

static int bind_processor_result_gc(lua_State *L)
{
    processor_result_free(luaL_checkudata(L, 1, BIND_RESULT_MT));
    return 0;
}

static int bind_processor_engine_gc(lua_State *L)
{
    processor **engine = luaL_checkudata(L, 1, BIND_ENGINE_MT);
    processor_free(*engine);
    *engine = NULL;
    return 0;
}

/* A callback called os.exit: exit the way os.exit in the script would. */
static void bind_processor_exit(lua_State *L, bind_workers *ws)
{
    lua_getglobal(L, "os");
    lua_getfield(L, -1, "exit");
    lua_pushinteger(L, atomic_load(&ws->exit_code));
    lua_pushboolean(L, atomic_load(&ws->exit_close));
    lua_call(L, 2, 0);
}

static int bind_processor_cap_gc(lua_State *L)
{
    throttle_bucket *b = luaL_checkudata(L, 1, BIND_CAP_MT);
    if (b->rate > 0)
        throttle_bucket_destroy(b);
    b->rate = 0;
    return 0;
}

/* Pushes the run's request bucket (max_requests_per_s), collected with the
 * stack, and returns it; pushes nil and returns NULL when there is no cap. */
static throttle_bucket *bind_processor_push_cap(lua_State *L, const processor_options *o)
{
    if (o->max_requests_per_s <= 0) {
        lua_pushnil(L);
        return NULL;
    }
    throttle_bucket *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BIND_CAP_MT);
    if (throttle_bucket_init(b, (double)o->max_requests_per_s) != 0)
        luaL_error(L, "process_all: cannot make the request bucket");
    return b;
}

/* processor:process_all(callback) -> errors, stats. When the GSI cannot be
 * read (after the processor's retries) it raises a ddb.Error carrying
 * .errors and .stats of what was done. */
static int bind_processor_process_all(lua_State *L)
{
    bind_processor *p = luaL_checkudata(L, 1, BIND_PROCESSOR_MT);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    char err_text[1024];
    /* refuse what cannot be carried before building any worker state */
    if (transfer_check(L, 2, "callback", err_text, sizeof err_text) != 0)
        return luaL_error(L, "process_all: %s", err_text);
    bind_workers *ws = bind_processor_build_workers(L, p);
    processor_result *result = lua_newuserdatauv(L, sizeof *result, 0);
    memset(result, 0, sizeof *result);
    luaL_setmetatable(L, BIND_RESULT_MT);   /* frees the result even if pushing it raises */
    processor **engine = lua_newuserdatauv(L, sizeof *engine, 0);
    *engine = NULL;
    luaL_setmetatable(L, BIND_ENGINE_MT);
    bind_run run = { NULL, &p->o, 0, 0 };
    processor_hooks hooks = { bind_processor_on_progress, &run, bind_processor_progress_interval(&p->o) };
    ddb_error err;
    /* max_requests_per_s: one bucket for the run, shared with ctx.client */
    p->cfg.cap = bind_processor_push_cap(L, &p->o);
    *engine = processor_new(&p->o, &p->cfg, bind_processor_run_in_worker, ws->data, &hooks, &err);
    if (!*engine) {
        p->cfg.cap = NULL;
        return bind_raise_error(L, &err);
    }
    run.engine = *engine;
    ws->engine = *engine;
    int rc = bind_processor_execute(&run, result, &err);
    if (rc != 0 && strcmp(err.code, "DrainTimeout") == 0)
        bind_processor_give_up(&run, &err);
    processor_free(*engine);   /* now: the run is over */
    *engine = NULL;
    ws->engine = NULL;
    bind_processor_close_workers(ws);
    p->cfg.cap = NULL;         /* the bucket is collected with the stack */
    bind_processor_print_summary(&p->o, result, rc, &err);
    bind_processor_set_exit_status(L, result->stopped);
    if (atomic_load(&ws->exit_code) >= 0)
        bind_processor_exit(L, ws);
    if (rc != 0)
        return bind_processor_raise_with_result(L, &err, result, p->o.max_workers);
    bind_processor_push_errors(L, result);
    bind_processor_push_stats(L, result, p->o.max_workers);
    return 2;
}

static int bind_processor_options_table(lua_State *L)
{
    bind_processor *p = luaL_checkudata(L, 1, BIND_PROCESSOR_MT);
    lua_createtable(L, 0, 15);
    bind_set_integer(L, "max_workers", p->o.max_workers);
    bind_set_integer(L, "max_retries", p->o.max_retries);
    bind_set_integer(L, "backoff_base_ms", p->o.backoff_base_ms);
    lua_pushnumber(L, p->o.backoff_multiplier);
    lua_setfield(L, -2, "backoff_multiplier");
    bind_set_integer(L, "backoff_cap_ms", p->o.backoff_cap_ms);
    bind_set_integer(L, "callback_retries", p->o.callback_retries);
    bind_set_integer(L, "timeout_ms", p->o.timeout_ms);
    bind_set_integer(L, "lease_ms", p->o.lease_ms);
    bind_set_integer(L, "max_requests_per_s", p->o.max_requests_per_s);
    bind_set_integer(L, "max_failures", p->o.max_failures);
    bind_set_integer(L, "max_errors", p->o.max_errors);
    bind_set_integer(L, "drain_timeout_ms", p->o.drain_timeout_ms);
    bind_set_string(L, "errors_file", p->o.errors_file);
    bind_set_integer(L, "mark_concurrency", p->o.mark_concurrency);
    bind_set_integer(L, "progress_interval_ms", p->o.progress_interval_ms);
    if (p->o.progress == PROCESSOR_PROGRESS_LOG)
        lua_pushliteral(L, "log");
    else
        lua_pushboolean(L, p->o.progress == PROCESSOR_PROGRESS_LINE);
    lua_setfield(L, -2, "progress");
    if (p->o.summary == PROCESSOR_SUMMARY_JSON)
        lua_pushliteral(L, "json");
    else
        lua_pushboolean(L, p->o.summary == PROCESSOR_SUMMARY_TEXT);
    lua_setfield(L, -2, "summary");
    bind_set_string(L, "table", p->o.table.table);
    bind_set_string(L, "index", p->o.table.index);
    bind_set_string(L, "endpoint", p->cfg.endpoint);
    return 1;
}

static const luaL_Reg bind_processor_methods[] = {
    { "process_all", bind_processor_process_all },
    { "options", bind_processor_options_table },
    { NULL, NULL },
};

void bind_processor_register(lua_State *L)
{
    bind_gc_metatable(L, BIND_WORKERS_MT, bind_processor_workers_gc);
    bind_gc_metatable(L, BIND_RESULT_MT, bind_processor_result_gc);
    bind_gc_metatable(L, BIND_CAP_MT, bind_processor_cap_gc);
    bind_gc_metatable(L, BIND_ENGINE_MT, bind_processor_engine_gc);

    luaL_newmetatable(L, BIND_PROCESSOR_MT);
    lua_pushcfunction(L, bind_processor_gc);
    lua_setfield(L, -2, "__gc");
    luaL_newlib(L, bind_processor_methods);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "Processor");

    lua_pushcfunction(L, bind_processor_new);
    lua_setfield(L, -2, "processor");
}
