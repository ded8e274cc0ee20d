/* transfer: carrying a callback with its upvalues from one lua_State into
 * another. Each test builds a "main" state and a "worker" state the way
 * ddbrun does (standard libraries, dummy ddb metatables, a preloaded
 * ddb.core with a null sentinel, a preloaded module mymod), runs a chunk in
 * the main state that returns the callback, carries it, and calls it in the
 * worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>

#include "transfer.h"

typedef struct {
    lua_State *from, *to;
} test_states;

static const char *const test_mt_names[] = {
    "ddb.null", "ddb.Set", "ddb.Binary", "ddb.Number", "ddb.List", "ddb.Map",
};

static void test_register_types(lua_State *L)
{
    for (size_t k = 0; k < sizeof test_mt_names / sizeof *test_mt_names; k++) {
        luaL_newmetatable(L, test_mt_names[k]);
        lua_pop(L, 1);
    }
}

/* Stands in for the real ddb.core: registers the metatables (as bind_values_open
 * does) and returns {null = <sentinel>}. */
static int test_ddb_core(lua_State *L)
{
    test_register_types(L);
    lua_newtable(L);
    lua_newuserdatauv(L, 0, 0);
    luaL_setmetatable(L, "ddb.null");
    lua_setfield(L, -2, "null");
    return 1;
}

static int test_cfunction(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

static void test_dostring(lua_State *L, const char *src)
{
    if (luaL_dostring(L, src) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
}

static lua_State *test_open(lua_State *L, int with_types)
{
    assert_non_null(L);
    luaL_openlibs(L);
    if (with_types) test_register_types(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, test_ddb_core);
    lua_setfield(L, -2, "ddb.core");
    lua_pop(L, 1);
    test_dostring(L, "package.preload.mymod = function()\n"
                     "  local M = {n = 0}\n"
                     "  function M.bump() M.n = M.n + 1 return M.n end\n"
                     "  return M\n"
                     "end");
    return L;
}

static lua_State *test_state(int with_types)
{
    return test_open(luaL_newstate(), with_types);
}

static int test_setup(void **state)
{
    test_states *s = malloc(sizeof *s);
    assert_non_null(s);
    s->from = test_state(1);
    s->to = test_state(1);
    *state = s;
    return 0;
}

static int test_teardown(void **state)
{
    test_states *s = *state;
    lua_close(s->from);
    lua_close(s->to);
    free(s);
    return 0;
}

/* Runs src in L as job.lua with the nargs values on top as its arguments and
 * leaves its one result (the callback) on the stack. */
static void test_run(lua_State *L, const char *src, int nargs)
{
    if (luaL_loadbuffer(L, src, strlen(src), "@job.lua") != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
    lua_insert(L, -nargs - 1);
    if (lua_pcall(L, nargs, 1, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
}

/* Carries the value on top of from into to, checking both stacks. */
static void test_carry(test_states *s)
{
    char err[512];
    int ftop = lua_gettop(s->from), ttop = lua_gettop(s->to);
    assert_int_equal(transfer_check(s->from, -1, "callback", err, sizeof err), 0);
    assert_int_equal(lua_gettop(s->from), ftop);
    if (transfer_value(s->from, -1, s->to, "callback", err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(lua_gettop(s->from), ftop);
    assert_int_equal(lua_gettop(s->to), ttop + 1);
}

/* Runs src in from, carries the callback it returns and calls it in to with
 * no arguments; its nres results are left on to's stack. */
static void test_call(test_states *s, const char *src, int nres)
{
    test_run(s->from, src, 0);
    test_carry(s);
    lua_pop(s->from, 1);
    if (lua_pcall(s->to, 0, nres, 0) != LUA_OK) fail_msg("%s", lua_tostring(s->to, -1));
}

static void test_assert_string(lua_State *L, int idx, const char *want, size_t wantlen)
{
    size_t len;
    assert_int_equal(lua_type(L, idx), LUA_TSTRING);
    const char *got = lua_tolstring(L, idx, &len);
    assert_int_equal(len, wantlen);
    assert_memory_equal(got, want, wantlen);
}

/* Whether the value at idx is rawequal to field `field` of to's module `mod`. */
static int test_is_module_field(lua_State *L, int idx, const char *mod, const char *field)
{
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, mod);
    if (field) lua_getfield(L, -1, field);
    int same = lua_rawequal(L, idx, -1);
    lua_settop(L, top);
    return same;
}

/* --- values carried --- */

static void test_plain_data(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local i, big, f, whole, s, yes, no = 42, math.mininteger, 0.5, 3.0, 'a\\0b', true, nil\n"
              "return function()\n"
              "  return math.type(i), i, big, f, math.type(whole), s, yes, no\n"
              "end",
              8);
    test_assert_string(s->to, 1, "integer", 7);
    assert_true(lua_isinteger(s->to, 2));
    assert_int_equal(lua_tointeger(s->to, 2), 42);
    assert_true(lua_isinteger(s->to, 3));
    assert_true(lua_tointeger(s->to, 3) == LUA_MININTEGER);
    assert_false(lua_isinteger(s->to, 4));
    assert_true(lua_tonumber(s->to, 4) == 0.5);
    test_assert_string(s->to, 5, "float", 5);
    test_assert_string(s->to, 6, "a\0b", 3);
    assert_int_equal(lua_type(s->to, 7), LUA_TBOOLEAN);
    assert_true(lua_toboolean(s->to, 7));
    assert_int_equal(lua_type(s->to, 8), LUA_TNIL);
}

static void test_plain_roots(void **state)
{
    test_states *s = *state;
    lua_pushinteger(s->from, 7);
    test_carry(s);
    assert_true(lua_isinteger(s->to, -1));
    assert_int_equal(lua_tointeger(s->to, -1), 7);
    lua_pushlstring(s->from, "x\0y", 3);
    test_carry(s);
    test_assert_string(s->to, -1, "x\0y", 3);
    lua_pushnil(s->from);
    test_carry(s);
    assert_int_equal(lua_type(s->to, -1), LUA_TNIL);
    lua_settop(s->from, 0);
}

static void test_tables(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local shared = {1, 2}\n"
              "local key = {}\n"
              "local t = {a = shared, b = shared, nested = {deep = {word = 'x'}}, [1.5] = 'f', [true] = 'b'}\n"
              "t.self = t\n"
              "t[key] = 'table key'\n"
              "return function()\n"
              "  local k\n"
              "  for kk in pairs(t) do if type(kk) == 'table' then k = kk end end\n"
              "  return t.a == t.b, t.self == t, t.nested.deep.word, t.a[2], t[1.5], t[true], t[k]\n"
              "end",
              7);
    assert_true(lua_toboolean(s->to, 1));
    assert_true(lua_toboolean(s->to, 2));
    test_assert_string(s->to, 3, "x", 1);
    assert_true(lua_isinteger(s->to, 4));
    assert_int_equal(lua_tointeger(s->to, 4), 2);
    test_assert_string(s->to, 5, "f", 1);
    test_assert_string(s->to, 6, "b", 1);
    test_assert_string(s->to, 7, "table key", 9);
}

static void test_globals(void **state)
{
    test_states *s = *state;
    test_dostring(s->from, "greeting = 'from main'");
    test_dostring(s->to, "greeting = 'from worker'");
    test_call(s,
              "local G = _G\n"
              "return function() seen = greeting return greeting, G, _ENV end",
              3);
    test_assert_string(s->to, 1, "from worker", 11);
    lua_rawgeti(s->to, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    assert_true(lua_rawequal(s->to, 2, -1));
    assert_true(lua_rawequal(s->to, 3, -1));
    assert_int_equal(lua_getglobal(s->to, "seen"), LUA_TSTRING);
    assert_int_equal(lua_getglobal(s->from, "seen"), LUA_TNIL);
    lua_pop(s->from, 1);
}

static void test_modules(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local mymod = require('mymod')\n"
              "mymod.bump()\n"
              "local str, m = string, math\n"
              "return function() return mymod, mymod.n, str, m.floor(2.5) end",
              4);
    assert_true(test_is_module_field(s->to, 1, "mymod", NULL));
    assert_int_equal(lua_tointeger(s->to, 2), 0);
    assert_true(test_is_module_field(s->to, 3, "string", NULL));
    assert_int_equal(lua_tointeger(s->to, 4), 2);
}

/* A Lua function of a module is the worker's module's function, so it
 * works on the worker's module state, not on a copy of it. */
static void test_module_functions(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local bump = require('mymod').bump\n"
              "bump()\n"
              "return function() return bump(), bump end",
              2);
    assert_int_equal(lua_tointeger(s->to, 1), 1);
    assert_true(test_is_module_field(s->to, 2, "mymod", "bump"));
}

static void test_helpers(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local function double(x) return x * 2 end\n"
              "local helpers = {}\n"
              "function helpers.inc(x) return x + 1 end\n"
              "function helpers.twice(x) return helpers.inc(helpers.inc(x)) end\n"
              "local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end\n"
              "return function() return double(21), helpers.twice(1), fact(10) end",
              3);
    assert_int_equal(lua_tointeger(s->to, 1), 42);
    assert_int_equal(lua_tointeger(s->to, 2), 3);
    assert_int_equal(lua_tointeger(s->to, 3), 3628800);
}

/* Both orders: a helper carries the shared upvalue first (count, box), or
 * the callback does (n). */
static void test_shared_upvalues(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local count = 0\n"
              "local function inc() count = count + 1 end\n"
              "local function get() return count end\n"
              "local box = {}\n"
              "local t = {get = function() return box end}\n"
              "local n = 0\n"
              "local function getn() return n end\n"
              "return function()\n"
              "  inc() inc()\n"
              "  local g = t.get\n"
              "  box = {}\n"
              "  n = 7\n"
              "  return get(), count, g() == box, getn()\n"
              "end",
              4);
    assert_int_equal(lua_tointeger(s->to, 1), 2);
    assert_int_equal(lua_tointeger(s->to, 2), 2);
    assert_true(lua_toboolean(s->to, 3));
    assert_int_equal(lua_tointeger(s->to, 4), 7);
}

static void test_library_cfunctions(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local fmt, insert, concat, say = string.format, table.insert, table.concat, print\n"
              "return function()\n"
              "  local t = {}\n"
              "  insert(t, fmt('%d-%s', 5, 'x'))\n"
              "  return concat(t), fmt, say\n"
              "end",
              3);
    test_assert_string(s->to, 1, "5-x", 3);
    assert_true(test_is_module_field(s->to, 2, "string", "format"));
    assert_true(test_is_module_field(s->to, 3, "_G", "print"));
}

static void test_class_metatable(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local Point = {}\n"
              "Point.__index = Point\n"
              "function Point.new(x, y) return setmetatable({x = x, y = y}, Point) end\n"
              "function Point:sum() return self.x + self.y end\n"
              "local p = Point.new(1, 2)\n"
              "return function()\n"
              "  return p:sum(), getmetatable(p) == Point, Point.new(3, 4):sum(), Point.__index == Point\n"
              "end",
              4);
    assert_int_equal(lua_tointeger(s->to, 1), 3);
    assert_true(lua_toboolean(s->to, 2));
    assert_int_equal(lua_tointeger(s->to, 3), 7);
    assert_true(lua_toboolean(s->to, 4));
}

static const char test_ddb_src[] =
    "local null = require('ddb.core').null\n"
    "local reg = debug.getregistry()\n"
    "local set = setmetatable({'a', 'b'}, reg['ddb.Set'])\n"
    "local num = setmetatable({'12.50'}, reg['ddb.Number'])\n"
    "return function() return null, set, num, set[2], num[1] end";

static void test_assert_ddb_values(lua_State *to)
{
    assert_true(test_is_module_field(to, 1, "ddb.core", "null"));
    assert_int_equal(lua_type(to, 1), LUA_TUSERDATA);
    assert_true(lua_getmetatable(to, 2));
    luaL_getmetatable(to, "ddb.Set");
    assert_true(lua_rawequal(to, -1, -2));
    lua_pop(to, 2);
    assert_true(lua_getmetatable(to, 3));
    luaL_getmetatable(to, "ddb.Number");
    assert_true(lua_rawequal(to, -1, -2));
    lua_pop(to, 2);
    test_assert_string(to, 4, "b", 1);
    test_assert_string(to, 5, "12.50", 5);
}

static void test_ddb_types(void **state)
{
    test_states *s = *state;
    test_call(s, test_ddb_src, 5);
    test_assert_ddb_values(s->to);
}

/* A worker that has not loaded ddb.core yet gets the metatables from it. */
static void test_ddb_types_require_core(void **state)
{
    test_states *s = *state;
    lua_close(s->to);
    s->to = test_state(0);
    luaL_getmetatable(s->to, "ddb.Set");
    assert_int_equal(lua_type(s->to, -1), LUA_TNIL);
    lua_pop(s->to, 1);
    test_call(s, test_ddb_src, 5);
    test_assert_ddb_values(s->to);
}

/* Not stripped: errors in the worker still point at the user's file:line. */
static void test_debug_info(void **state)
{
    test_states *s = *state;
    lua_Debug ar;
    test_run(s->from,
             "local function fail(x)\n"
             "  error('boom ' .. x)\n"
             "end\n"
             "return function() fail('a') end",
             0);
    test_carry(s);
    lua_pop(s->from, 1);
    lua_pushvalue(s->to, -1);
    lua_getinfo(s->to, ">S", &ar);
    assert_string_equal(ar.source, "@job.lua");
    assert_int_equal(ar.linedefined, 4);
    assert_int_equal(lua_pcall(s->to, 0, 0, 0), LUA_ERRRUN);
    assert_string_equal(lua_tostring(s->to, -1), "job.lua:2: boom a");
}

/* --- refusals --- */

typedef enum { TEST_ARG_NONE, TEST_ARG_CLIENT, TEST_ARG_CCLOSURE, TEST_ARG_LIGHT } test_arg;

typedef struct {
    const char *src;
    test_arg arg;   /* passed to the chunk as ... */
    const char *err;
} test_refusal;

static const test_refusal test_refusals[] = {
    { "local co = coroutine.create(function() end)\n"
      "return function() return co end", TEST_ARG_NONE,
      "cannot carry upvalue 'co' of callback into a worker: it is a coroutine; create it inside the callback" },
    { "local out = io.stdout\n"
      "return function() out:write('x') end", TEST_ARG_NONE,
      "cannot carry upvalue 'out' of callback into a worker: it is a FILE* (userdata); create it inside the callback" },
    { "local client = ...\n"
      "return function() return client end", TEST_ARG_CLIENT,
      "cannot carry upvalue 'client' of callback into a worker: it is a ddb.Client (userdata); create it inside the callback or use ctx.client" },
    { "local config = {table = 'T', conn = ...}\n"
      "return function() return config.conn end", TEST_ARG_CLIENT,
      "cannot carry upvalue 'config' of callback (field 'conn') into a worker: it is a ddb.Client (userdata); create it inside the callback or use ctx.client" },
    { "local cf = ...\n"
      "return function() return cf() end", TEST_ARG_CCLOSURE,
      "cannot carry upvalue 'cf' of callback into a worker: it is a C function that is not a field of any loaded module" },
    { "local p = ...\n"
      "return function() return p end", TEST_ARG_LIGHT,
      "cannot carry upvalue 'p' of callback into a worker: it is a light userdata" },
    { "local co = coroutine.create(print)\n"
      "local function helper() return co end\n"
      "return function() return helper() end", TEST_ARG_NONE,
      "cannot carry upvalue 'co' of upvalue 'helper' of callback into a worker: it is a coroutine; create it inside the callback" },
    { "local list = {1, {files = {io.stderr}}}\n"
      "return function() return list end", TEST_ARG_NONE,
      "cannot carry upvalue 'list' of callback (field '[2].files[1]') into a worker: it is a FILE* (userdata); create it inside the callback" },
    { "local obj = setmetatable({}, {__index = {out = io.stderr}})\n"
      "return function() return obj end", TEST_ARG_NONE,
      "cannot carry the metatable of upvalue 'obj' of callback (field '__index.out') into a worker: it is a FILE* (userdata); create it inside the callback" },
    { "local t = {[io.stderr] = true}\n"
      "return function() return t end", TEST_ARG_NONE,
      "cannot carry a key in upvalue 't' of callback into a worker: it is a FILE* (userdata); create it inside the callback" },
    { "local t = {}\n"
      "local cur = t\n"
      "for i = 1, 99 do cur.next = {} cur = cur.next end\n"
      "return function() return t end", TEST_ARG_NONE,
      "cannot carry upvalue 't' of callback into a worker: it is nested more than 100 levels deep" },
    { "local t = {}\n"
      "local cur = t\n"
      "for i = 1, 1000 do cur.next = {} cur = cur.next end\n"
      "return function() return t end", TEST_ARG_NONE,
      "cannot carry upvalue 't' of callback into a worker: it is nested more than 100 levels deep" },
};

static void test_push_arg(lua_State *L, test_arg arg)
{
    switch (arg) {
    case TEST_ARG_NONE:
        break;
    case TEST_ARG_CLIENT:
        lua_newuserdatauv(L, 8, 0);
        luaL_newmetatable(L, "ddb.Client");
        lua_setmetatable(L, -2);
        break;
    case TEST_ARG_CCLOSURE:
        lua_pushinteger(L, 1);
        lua_pushcclosure(L, test_cfunction, 1);
        break;
    case TEST_ARG_LIGHT:
        lua_pushlightuserdata(L, (void *)test_refusals);
        break;
    }
}

/* Both calls refuse with the exact message and leave both stacks as they were. */
static void test_assert_refused(test_states *s, const char *want)
{
    char err[512];
    lua_pushinteger(s->to, 99);   /* something below, to see the top is kept */
    int ftop = lua_gettop(s->from), ttop = lua_gettop(s->to);
    assert_int_equal(transfer_check(s->from, -1, "callback", err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(lua_gettop(s->from), ftop);
    assert_int_equal(transfer_value(s->from, -1, s->to, "callback", err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(lua_gettop(s->from), ftop);
    assert_int_equal(lua_gettop(s->to), ttop);
    assert_int_equal(lua_tointeger(s->to, -1), 99);
    lua_settop(s->to, 0);
}

static void test_refusal_messages(void **state)
{
    test_states *s = *state;
    for (size_t k = 0; k < sizeof test_refusals / sizeof *test_refusals; k++) {
        const test_refusal *r = &test_refusals[k];
        test_push_arg(s->from, r->arg);
        test_run(s->from, r->src, r->arg == TEST_ARG_NONE ? 0 : 1);
        test_assert_refused(s, r->err);
        lua_settop(s->from, 0);
    }
}

/* The deepest nesting accepted: the upvalue is level 1, so 98 tables below it. */
static void test_depth_limit(void **state)
{
    test_states *s = *state;
    test_call(s,
              "local t = {}\n"
              "local cur = t\n"
              "for i = 1, 98 do cur.next = {} cur = cur.next end\n"
              "return function() local n = 0 while t.next do t = t.next n = n + 1 end return n end",
              1);
    assert_int_equal(lua_tointeger(s->to, 1), 98);
}

/* A root value that is not a function is named by itself. */
static void test_refusal_of_root(void **state)
{
    test_states *s = *state;
    char err[256];
    test_dostring(s->from, "return {retry = {out = io.stdout}}");
    assert_int_equal(transfer_value(s->from, -1, s->to, "config", err, sizeof err), -1);
    assert_string_equal(err, "cannot carry config (field 'retry.out') into a worker: "
                             "it is a FILE* (userdata); create it inside the callback");
    lua_pushthread(s->from);
    assert_int_equal(transfer_check(s->from, -1, "job", err, sizeof err), -1);
    assert_string_equal(err, "cannot carry job into a worker: it is a coroutine; create it inside the callback");
    lua_settop(s->from, 0);
}

/* What only the worker can refuse: transfer_check accepts it, transfer_value does not. */
static void test_refused_by_worker(void **state)
{
    test_states *s = *state;
    char err[512];
    static const char prefix[] = "cannot carry upvalue 'm' of callback into a worker: "
                                 "require(\"onlyhere\") failed in the worker: module 'onlyhere' not found:";
    test_run(s->from,
             "package.preload.onlyhere = function() return {} end\n"
             "local m = require('onlyhere')\n"
             "return function() return m end",
             0);
    assert_int_equal(transfer_check(s->from, -1, "callback", err, sizeof err), 0);
    assert_int_equal(transfer_value(s->from, -1, s->to, "callback", err, sizeof err), -1);
    assert_memory_equal(err, prefix, sizeof prefix - 1);
    assert_int_equal(lua_gettop(s->to), 0);
    assert_int_equal(lua_gettop(s->from), 1);
    lua_settop(s->from, 0);

    test_push_arg(s->from, TEST_ARG_CCLOSURE);
    lua_setglobal(s->from, "only_here");
    test_run(s->from, "local f = only_here\nreturn function() return f() end", 0);
    assert_int_equal(transfer_check(s->from, -1, "callback", err, sizeof err), 0);
    assert_int_equal(transfer_value(s->from, -1, s->to, "callback", err, sizeof err), -1);
    assert_string_equal(err, "cannot carry upvalue 'f' of callback into a worker: "
                             "the worker's module '_G' has no field 'only_here'");
    assert_int_equal(lua_gettop(s->to), 0);
    lua_settop(s->from, 0);
}

static void test_small_error_buffer(void **state)
{
    test_states *s = *state;
    char err[16];
    memset(err, 'x', sizeof err);
    lua_pushthread(s->from);
    assert_int_equal(transfer_value(s->from, -1, s->to, "callback", err, sizeof err), -1);
    assert_string_equal(err, "cannot carry ca");
    assert_int_equal(transfer_check(s->from, -1, "callback", NULL, 0), -1);
    lua_settop(s->from, 0);
}

/* --- out of memory --- */

/* Once armed, an allocator that grants `left` more growing allocations. */
typedef struct {
    int armed;
    long left;
} test_budget;

static void *test_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    test_budget *b = ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (b->armed && (ptr == NULL || nsize > osize)) {
        if (b->left == 0) return NULL;
        b->left--;
    }
    return realloc(ptr, nsize);
}

static const char test_rich_src[] =
    "local mymod = require('mymod')\n"
    "local fmt = string.format\n"
    "local null = require('ddb.core').null\n"
    "local set = setmetatable({'a'}, debug.getregistry()['ddb.Set'])\n"
    "local count = 0\n"
    "local function inc() count = count + 1 return count end\n"
    "local cfg = {name = 'x\\0y', list = {1, 2.5, {deep = true}}}\n"
    "cfg.self = cfg\n"
    "local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end\n"
    "return function()\n"
    "  inc()\n"
    "  return fmt('%d %d %s %s', inc(), fact(5), tostring(cfg.self == cfg), tostring(getmetatable(set) ~= nil)),\n"
    "         mymod.n, null\n"
    "end";

/* Every allocation that can fail, failing in turn: never a raise, the
 * stacks kept, and a worker state that still works afterwards. */
static void test_out_of_memory(void **state)
{
    (void)state;
    test_budget fb = { 0, 0 }, tb = { 0, 0 };
    lua_State *from = test_open(lua_newstate(test_alloc, &fb), 1);
    lua_State *to = test_open(lua_newstate(test_alloc, &tb), 1);
    char err[512];
    test_run(from, test_rich_src, 0);

    int ok = 0;
    for (long n = 0; n < 100000 && !ok; n++) {
        tb.armed = 1, tb.left = n;
        int rc = transfer_value(from, -1, to, "callback", err, sizeof err);
        tb.armed = 0;
        assert_int_equal(lua_gettop(from), 1);
        assert_int_equal(lua_gettop(to), rc == 0 ? 1 : 0);
        if (rc != 0) assert_memory_equal(err, "cannot carry ", 13);
        ok = rc == 0;
    }
    assert_true(ok);
    if (lua_pcall(to, 0, 2, 0) != LUA_OK) fail_msg("%s", lua_tostring(to, -1));
    test_assert_string(to, 1, "2 120 true true", 15);
    lua_settop(to, 0);

    for (int check = 0; check < 2; check++) {
        ok = 0;
        for (long n = 0; n < 100000 && !ok; n++) {
            fb.armed = 1, fb.left = n;
            int rc = check ? transfer_check(from, -1, "callback", err, sizeof err)
                           : transfer_value(from, -1, to, "callback", err, sizeof err);
            fb.armed = 0;
            assert_int_equal(lua_gettop(from), 1);
            if (rc != 0) assert_memory_equal(err, "cannot carry ", 13);
            ok = rc == 0;
        }
        assert_true(ok);
        lua_settop(to, 0);
    }
    lua_close(from);
    lua_close(to);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_data, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_plain_roots, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tables, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_globals, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_modules, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_module_functions, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_helpers, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_shared_upvalues, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_library_cfunctions, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_class_metatable, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_ddb_types, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_ddb_types_require_core, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_debug_info, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_refusal_messages, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_refusal_of_root, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_refused_by_worker, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_small_error_buffer, test_setup, test_teardown),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
