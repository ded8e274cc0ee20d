/* libFuzzer target: the input as a DynamoDB response body. What parses is
 * pushed into Lua (as a response, an item and an AttributeValue), marshalled
 * back, and every object in it goes through record_validate_item. Whatever
 * marshals must be stable: pushed back and marshalled again it gives the same
 * wire text. Also included by tests/test_fuzz_regressions.c, hence the fr_
 * prefix on every static. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>

#include "bind.h"
#include "marshal.h"
#include "numtext.h"
#include "record.h"

#define FR_MAX_VALIDATE 2000   /* record_validate_item calls per input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FR_RESPONSE, FR_ITEM, FR_VALUE, FR_MODES };
static const char *const fr_mode_names[] = {"response", "item", "value"};

/* One state per process, kept between inputs (harness state, not product code). */
static lua_State *fr_L;

static lua_State *fr_state(void)
{
    if (!fr_L) {
        fr_L = luaL_newstate();
        if (!fr_L) abort();
        luaL_openlibs(fr_L);
        bind_values_open(fr_L);
        lua_setglobal(fr_L, "ddb");
    }
    lua_settop(fr_L, 0);
    return fr_L;
}

/* fr_push(mode, json): pushes the JSON as marshal_push_* does for mode. */
static int fr_push(lua_State *L)
{
    int mode = (int)lua_tointeger(L, 1);
    const json_t *j = lua_touserdata(L, 2);

    lua_settop(L, 0);
    if (mode == FR_RESPONSE) marshal_push_response(L, j);
    else if (mode == FR_ITEM) marshal_push_item(L, j);
    else marshal_push_value(L, j);
    return 1;
}

/* Pushes j protected (only memory errors may raise: then abort, inputs are small). */
static void fr_push_json(lua_State *L, int mode, const json_t *j)
{
    lua_pushcfunction(L, fr_push);
    lua_pushinteger(L, mode);
    lua_pushlightuserdata(L, (void *)j);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_response: pushing a %s raised: %s\n", fr_mode_names[mode],
                lua_tostring(L, -1));
        abort();
    }
}

static json_t *fr_marshal(lua_State *L, int mode, char *err, size_t errlen)
{
    int top = lua_gettop(L);
    json_t *j;

    if (mode == FR_RESPONSE) j = marshal_request(L, top, err, errlen);
    else if (mode == FR_ITEM) j = marshal_item(L, top, "Item", err, errlen);
    else j = marshal_value(L, top, NULL, err, errlen);
    if (lua_gettop(L) != top) {
        fprintf(stderr, "fuzz_response: marshalling a %s moved the stack from %d to %d\n",
                fr_mode_names[mode], top, lua_gettop(L));
        abort();
    }
    if (!j && err[0] == '\0') {
        fprintf(stderr, "fuzz_response: marshalling a %s failed without a message\n", fr_mode_names[mode]);
        abort();
    }
    return j;
}

static char *fr_dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s) abort();
    return s;
}

/* Response -> Lua -> JSON (j2) -> Lua -> JSON (j3): j2 and j3 must be equal. */
static void fr_round_trip(lua_State *L, int mode, const json_t *response)
{
    char err[512];
    json_t *j2, *j3;
    char *t2, *t3;

    lua_settop(L, 0);
    fr_push_json(L, mode, response);
    j2 = fr_marshal(L, mode, err, sizeof err);
    lua_settop(L, 0);
    if (!j2) return;
    fr_push_json(L, mode, j2);
    j3 = fr_marshal(L, mode, err, sizeof err);
    lua_settop(L, 0);
    if (!j3) {
        t2 = fr_dump(j2);
        fprintf(stderr, "fuzz_response: %s %s marshals once, then not: %s\n", fr_mode_names[mode], t2, err);
        abort();
    }
    t2 = fr_dump(j2);
    t3 = fr_dump(j3);
    if (strcmp(t2, t3) != 0) {
        fprintf(stderr, "fuzz_response: %s not stable:\n  first:  %s\n  second: %s\n", fr_mode_names[mode], t2, t3);
        abort();
    }
    free(t2);
    free(t3);
    json_decref(j2);
    json_decref(j3);
}

static void fr_validate_all(const json_t *j, int *budget)
{
    char err[256], small[8];
    size_t i;
    const char *k;
    json_t *v;

    if (*budget <= 0) return;
    if (json_is_object(j)) {
        --*budget;
        record_validate_item(j, false, err, sizeof err);
        record_validate_item(j, true, small, sizeof small);
        json_object_foreach((json_t *)j, k, v) fr_validate_all(v, budget);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) fr_validate_all(v, budget);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *response = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &jerr);
    lua_State *L;
    int budget = FR_MAX_VALIDATE;

    if (!response) return 0;
    L = fr_state();
    for (int mode = 0; mode < FR_MODES; mode++) fr_round_trip(L, mode, response);
    fr_validate_all(response, &budget);
    json_decref(response);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
