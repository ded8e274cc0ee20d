/* Issue 9.9: when Lua runs out of memory in the middle of a binding, nothing
 * the binding allocated outside Lua may leak. Each test reruns a call with
 * Lua's allocator failing at the 1st, 2nd, ... allocation after set-up, until
 * the call succeeds, and checks what is still allocated after lua_close. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "bind.h"
#include "marshal.h"

typedef struct oom_limit {
    long allocations;   /* made so far */
    long fail_at;       /* the allocation that fails; 0: none */
} oom_limit;

static void *oom_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    oom_limit *lim = ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > osize || !ptr) {
        lim->allocations++;
        if (lim->fail_at && lim->allocations >= lim->fail_at)
            return NULL;
    }
    return realloc(ptr, nsize);
}

/* jansson's live allocations, counted through its allocator hooks. */
static long oom_json_live;

static void *oom_json_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        oom_json_live++;
    return p;
}

static void oom_json_free(void *p)
{
    if (p)
        oom_json_live--;
    free(p);
}

/* A list whose second element is a ddb.binary without its value field: the
 * marshaller has built the list's first element when it looks the field up,
 * which allocates the string "value" in a state that never made it. */
static void oom_push_value(lua_State *L)
{
    lua_createtable(L, 2, 0);
    lua_createtable(L, 3, 0);
    for (int i = 1; i <= 3; i++) {
        lua_pushinteger(L, i);
        lua_rawseti(L, -2, i);
    }
    lua_rawseti(L, -2, 1);
    lua_newtable(L);
    luaL_setmetatable(L, MARSHAL_BINARY_MT);
    lua_rawseti(L, -2, 2);
}

static int oom_marshal(lua_State *L)
{
    char err[256];
    json_t *v = marshal_value(L, 1, "x", err, sizeof err);
    json_decref(v);
    return 0;
}

static void test_marshal_frees_its_tree_when_lua_raises(void **state)
{
    (void)state;
    int raised = 0;
    json_set_alloc_funcs(oom_json_malloc, oom_json_free);
    for (long k = 1; k < 10000; k++) {
        oom_limit lim = { 0, 0 };
        lua_State *L = lua_newstate(oom_alloc, &lim);
        assert_non_null(L);
        marshal_registry_init(L);
        lua_pushcfunction(L, oom_marshal);
        oom_push_value(L);
        lim.fail_at = lim.allocations + k;
        int rc = lua_pcall(L, 1, 0, 0);
        lim.fail_at = 0;
        lua_close(L);
        assert_int_equal(oom_json_live, 0);
        if (rc == LUA_OK)
            break;
        raised++;
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(raised > 0);   /* some allocation did fail inside the call */
}

static int oom_parse_env(lua_State *L)
{
    lua_getfield(L, 1, "parse_env");
    lua_pushliteral(L, "A=1\nB=two\nC=\"three\"\nD=4\nE=5\nF=6\nG=7\nH=8\n");
    lua_call(L, 1, 0);
    return 0;
}

/* Runs parse_env failing at every allocation in turn; returns how many raised. */
static int oom_parse_env_sweep(void)
{
    int raised = 0;
    for (long k = 1; k < 10000; k++) {
        oom_limit lim = { 0, 0 };
        lua_State *L = lua_newstate(oom_alloc, &lim);
        assert_non_null(L);
        luaL_requiref(L, "ddb.core", luaopen_ddb_core, 0);
        lua_pushcfunction(L, oom_parse_env);
        lua_insert(L, -2);
        lim.fail_at = lim.allocations + k;
        int rc = lua_pcall(L, 1, 0, 0);
        lim.fail_at = 0;
        lua_close(L);
        if (rc == LUA_OK)
            break;
        raised++;
    }
    return raised;
}

/* The same sweep twice after a warm-up: a leak grows the heap each time. */
static void test_parse_env_frees_its_buffer_when_lua_raises(void **state)
{
    (void)state;
    assert_true(oom_parse_env_sweep() > 1);
    oom_parse_env_sweep();
    size_t before = mallinfo2().uordblks;
    oom_parse_env_sweep();
    oom_parse_env_sweep();
    assert_int_equal(mallinfo2().uordblks, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marshal_frees_its_tree_when_lua_raises),
        cmocka_unit_test(test_parse_env_frees_its_buffer_when_lua_raises),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
