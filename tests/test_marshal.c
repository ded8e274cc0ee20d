/* Unit tests for src/marshal.c: number text, Lua <-> AttributeValue, request and response walks. */
#include <limits.h>
#include <locale.h>
#include <math.h>
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
#include "numtext.h"

/* describe(v): deterministic text of a Lua value, showing integer vs float and the ddb types. */
static const char describe_lua[] =
    "local function num(v)\n"
    "  if math.type(v) == 'integer' then return tostring(v) end\n"
    "  local s = string.format('%.17g', v)\n"
    "  if not s:find('[.eni]') then s = s .. '.0' end\n"
    "  return s\n"
    "end\n"
    "local describe\n"
    "local function seq(t)\n"
    "  local out = {}\n"
    "  for i = 1, #t do out[i] = describe(t[i]) end\n"
    "  return table.concat(out, ',')\n"
    "end\n"
    "local function fields(t)\n"
    "  local ks, out = {}, {}\n"
    "  for k in pairs(t) do ks[#ks + 1] = k end\n"
    "  table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)\n"
    "  for i, k in ipairs(ks) do out[i] = tostring(k) .. '=' .. describe(t[k]) end\n"
    "  return table.concat(out, ',')\n"
    "end\n"
    "describe = function(v)\n"
    "  local t = type(v)\n"
    "  if t == 'number' then return num(v) end\n"
    "  if t == 'string' then return string.format('%q', v) end\n"
    "  if t == 'boolean' or t == 'nil' then return tostring(v) end\n"
    "  if ddb.is_null(v) then return 'null' end\n"
    "  if t ~= 'table' then return '<' .. t .. '>' end\n"
    "  local name = (getmetatable(v) or {}).__name\n"
    "  if name == 'ddb.List' then return 'L[' .. seq(v) .. ']' end\n"
    "  if name == 'ddb.Set' then return 'Set[' .. seq(v) .. ']' end\n"
    "  if name == 'ddb.Map' then return 'M{' .. fields(v) .. '}' end\n"
    "  if name == 'ddb.Binary' then return 'bin(' .. string.format('%q', v.value) .. ')' end\n"
    "  if name == 'ddb.Number' then return 'num(' .. v.value .. ')' end\n"
    "  local n = 0\n"
    "  for _ in pairs(v) do n = n + 1 end\n"
    "  if n > 0 and n == #v then return '[' .. seq(v) .. ']' end\n"
    "  return '{' .. fields(v) .. '}'\n"
    "end\n"
    "return describe\n";

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    bind_values_open(L);
    lua_setglobal(L, "ddb");
    if (luaL_dostring(L, describe_lua) != LUA_OK) fail_msg("describe: %s", lua_tostring(L, -1));
    lua_setglobal(L, "describe");
    return L;
}

static int setup(void **state)
{
    *state = new_state();
    return 0;
}

static int teardown(void **state)
{
    lua_close(*state);
    return 0;
}

/* Pushes the value of the Lua expression expr. */
static void eval(lua_State *L, const char *expr)
{
    char code[4096];
    snprintf(code, sizeof code, "return %s", expr);
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        fail_msg("%s: %s", expr, lua_tostring(L, -1));
}

static void expect_str(const char *label, const char *got, const char *want)
{
    if (!got || strcmp(got, want) != 0) fail_msg("%s\n  got:  %s\n  want: %s", label, got ? got : "(null)", want);
}

/* Compares the compact, sorted JSON text of j (consumed) with want. */
static void expect_json(const char *label, json_t *j, const char *want)
{
    char *text;
    if (!j) fail_msg("%s: NULL json", label);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    assert_non_null(text);
    expect_str(label, text, want);
    free(text);
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (!j) fail_msg("bad test JSON %s: %s", text, jerr.text);
    return j;
}

/* describe() of the value on top of the stack, which is popped; the result is kept in buf. */
static const char *describe_top(lua_State *L, char *buf, size_t size)
{
    lua_getglobal(L, "describe");
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) fail_msg("describe: %s", lua_tostring(L, -1));
    snprintf(buf, size, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return buf;
}

/* --- number text --- */

static void test_format_double(void **state)
{
    static const struct { double d; const char *want; } cases[] = {
        {0.1, "0.1"},
        {1.0 / 3, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e300, "1e+300"},
        {5e-324, "4.94065645841247e-324"},
        {9007199254740992.0, "9007199254740992"},
        {-0.0, "0"},
        {0.0, "0"},
        {123456789012345680000.0, "123456789012345683968"},   /* whole: every digit */
        {3.0, "3"},
        {-1.5, "-1.5"},
        {100.0, "100"},
        {1e15, "1e+15"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    char buf[64];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = numtext_format_double(cases[i].d, buf, sizeof buf);
        expect_str(cases[i].want, n < 0 ? NULL : buf, cases[i].want);
        assert_int_equal(n, (int)strlen(cases[i].want));
    }
    assert_int_equal(numtext_format_double(NAN, buf, sizeof buf), -1);
    assert_int_equal(numtext_format_double(INFINITY, buf, sizeof buf), -1);
    assert_int_equal(numtext_format_double(-INFINITY, buf, sizeof buf), -1);
    assert_int_equal(numtext_format_double(0.1, buf, 3), -1);   /* "0.1" needs 4 bytes */
    assert_int_equal(numtext_format_double(0.1, buf, 4), 3);
    assert_string_equal(buf, "0.1");
}

static void test_classify_number(void **state)
{
    static const struct {
        const char *text;
        numtext_kind kind;
        long long i;
        double d;
    } cases[] = {
        {"42", NUMTEXT_INTEGER, 42, 0},
        {"-9223372036854775808", NUMTEXT_INTEGER, LLONG_MIN, 0},
        {"9223372036854775807", NUMTEXT_INTEGER, LLONG_MAX, 0},
        {"1.5E+3", NUMTEXT_INTEGER, 1500, 0},
        {"1E+2", NUMTEXT_INTEGER, 100, 0},
        {"-0", NUMTEXT_INTEGER, 0, 0},
        {"0.000", NUMTEXT_INTEGER, 0, 0},
        {"007", NUMTEXT_INTEGER, 7, 0},
        {"1200e-2", NUMTEXT_INTEGER, 12, 0},
        {"9223372036854775808", NUMTEXT_FLOAT, 0, 9223372036854775808.0},   /* 2^63 */
        {"9223372036854775809", NUMTEXT_EXACT, 0, 0},
        {"-9223372036854775809", NUMTEXT_EXACT, 0, 0},
        {"12345678901234567890123456789012345678", NUMTEXT_EXACT, 0, 0},
        {"0.3000000000000000444", NUMTEXT_EXACT, 0, 0},
        {"1e400", NUMTEXT_EXACT, 0, 0},
        {"1e-400", NUMTEXT_EXACT, 0, 0},
        {"1E40", NUMTEXT_FLOAT, 0, 1e40},
        {"0.1", NUMTEXT_FLOAT, 0, 0.1},
        {"1E-7", NUMTEXT_FLOAT, 0, 1e-7},
        {"0.30000000000000004", NUMTEXT_FLOAT, 0, 0.30000000000000004},
        {"-2.50", NUMTEXT_FLOAT, 0, -2.5},
        {"1e20", NUMTEXT_FLOAT, 0, 1e20},
        {"1000000000000000000000000000000000000000000", NUMTEXT_FLOAT, 0, 1e42},
        {"123456789012345678901234567890123456789", NUMTEXT_INVALID, 0, 0},
        {"abc", NUMTEXT_INVALID, 0, 0},
        {"", NUMTEXT_INVALID, 0, 0},
        {"1e", NUMTEXT_INVALID, 0, 0},
        {"--1", NUMTEXT_INVALID, 0, 0},
        {"+1", NUMTEXT_INVALID, 0, 0},
        {".5", NUMTEXT_INVALID, 0, 0},
        {"1.", NUMTEXT_INVALID, 0, 0},
        {"1.e5", NUMTEXT_INVALID, 0, 0},
        {"1e+", NUMTEXT_INVALID, 0, 0},
        {" 1", NUMTEXT_INVALID, 0, 0},
        {"1 ", NUMTEXT_INVALID, 0, 0},
        {"0x10", NUMTEXT_INVALID, 0, 0},
        {"inf", NUMTEXT_INVALID, 0, 0},
        {"NaN", NUMTEXT_INVALID, 0, 0},
        {"-", NUMTEXT_INVALID, 0, 0},
    };
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        long long i = -1;
        double d = -1;
        numtext_kind kind = numtext_classify(cases[k].text, strlen(cases[k].text), &i, &d);
        if (kind != cases[k].kind) fail_msg("\"%s\": kind %d, want %d", cases[k].text, kind, cases[k].kind);
        if (kind == NUMTEXT_INTEGER && i != cases[k].i)
            fail_msg("\"%s\": %lld, want %lld", cases[k].text, i, cases[k].i);
        if (kind == NUMTEXT_FLOAT && d != cases[k].d)
            fail_msg("\"%s\": %.17g, want %.17g", cases[k].text, d, cases[k].d);
    }
    assert_int_equal(numtext_classify("7", 1, NULL, NULL), NUMTEXT_INTEGER);
    assert_int_equal(numtext_classify("0.5", 3, NULL, NULL), NUMTEXT_FLOAT);
    assert_int_equal(numtext_classify(NULL, 0, NULL, NULL), NUMTEXT_INVALID);
}

/* Issue 9.5: a float holding a whole number of 2^53 or more is written with
 * all its digits (within 38), so it reads back as the same number. */
static void test_whole_floats_exact(void **state)
{
    static const struct { double d; const char *want; } cases[] = {
        {0x1p60, "1152921504606846976"},
        {-0x1p60, "-1152921504606846976"},
        {0x1p53 + 2, "9007199254740994"},
        {0x1p100, "1267650600228229401496703205376"},
        {1e20, "100000000000000000000"},
        {0x1p127, "1.7014118346046923e+38"},   /* 39 significant digits: shortest form */
    };
    char buf[64];
    long long i;
    double d;
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int n = numtext_format_double(cases[k].d, buf, sizeof buf);
        expect_str(cases[k].want, n < 0 ? NULL : buf, cases[k].want);
    }
    numtext_format_double(0x1p60, buf, sizeof buf);
    assert_int_equal(numtext_classify(buf, strlen(buf), &i, NULL), NUMTEXT_INTEGER);
    assert_true(i == 1LL << 60);
    numtext_format_double(0x1p100, buf, sizeof buf);
    assert_int_equal(numtext_classify(buf, strlen(buf), NULL, &d), NUMTEXT_FLOAT);
    assert_true(d == 0x1p100);
}

/* Switches this process to a locale whose decimal point is a comma: the
 * system's de_DE.UTF-8, else one generated with localedef into dir. */
static void enter_comma_locale(char *dir, size_t size)
{
    char cmd[512];
    dir[0] = '\0';
    if (!setlocale(LC_ALL, "de_DE.UTF-8")) {
        snprintf(dir, size, "/tmp/ddbrun-locale-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 2>/dev/null", dir);
        if (system(cmd) != 0) fail_msg("localedef could not make de_DE.UTF-8 (is the 'locales' package installed?)");
        setenv("LOCPATH", dir, 1);
        if (!setlocale(LC_ALL, "de_DE.UTF-8")) fail_msg("de_DE.UTF-8 generated in %s but not usable", dir);
    }
    assert_string_equal(localeconv()->decimal_point, ",");
}

static void leave_comma_locale(const char *dir)
{
    char cmd[512];
    setlocale(LC_ALL, "C");
    if (!dir[0]) return;
    unsetenv("LOCPATH");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Issue 9.6: number text is the same whatever locale a script switched to. */
static void test_number_text_locale(void **state)
{
    char dir[64], buf[64], err[256];
    double d = 0;
    (void)state;
    enter_comma_locale(dir, sizeof dir);
    assert_int_equal(numtext_format_double(0.1, buf, sizeof buf), 3);
    assert_string_equal(buf, "0.1");
    numtext_format_double(-2.5e-7, buf, sizeof buf);
    assert_string_equal(buf, "-2.5e-07");
    assert_int_equal(numtext_classify("0.5", 3, NULL, &d), NUMTEXT_FLOAT);
    assert_true(d == 0.5);
    assert_int_equal(numtext_classify("1.25e-2", 7, NULL, &d), NUMTEXT_FLOAT);
    assert_true(d == 0.0125);
    lua_State *L = new_state();
    lua_pushnumber(L, 0.1);
    json_t *av = marshal_value(L, -1, "x", err, sizeof err);
    assert_non_null(av);
    assert_string_equal(json_string_value(json_object_get(av, "N")), "0.1");
    json_decref(av);
    lua_close(L);
    leave_comma_locale(dir);
}

/* --- Lua -> AttributeValue --- */

static void test_value_to_av(void **state)
{
    static const struct { const char *lua, *json; } cases[] = {
        {"'hello'", "{\"S\":\"hello\"}"},
        {"''", "{\"S\":\"\"}"},
        {"'h\\u{E9}llo \\u{2713}'", "{\"S\":\"h\xC3\xA9llo \xE2\x9C\x93\"}"},
        {"'a\\0b'", "{\"S\":\"a\\u0000b\"}"},
        {"42", "{\"N\":\"42\"}"},
        {"-7", "{\"N\":\"-7\"}"},
        {"math.maxinteger", "{\"N\":\"9223372036854775807\"}"},
        {"math.mininteger", "{\"N\":\"-9223372036854775808\"}"},
        {"0.1", "{\"N\":\"0.1\"}"},
        {"3.0", "{\"N\":\"3\"}"},
        {"-0.0", "{\"N\":\"0\"}"},
        {"1/3", "{\"N\":\"0.3333333333333333\"}"},
        {"1e300", "{\"N\":\"1e+300\"}"},
        {"2^53", "{\"N\":\"9007199254740992\"}"},
        {"true", "{\"BOOL\":true}"},
        {"false", "{\"BOOL\":false}"},
        {"ddb.null", "{\"NULL\":true}"},
        {"{1, 'a', true}", "{\"L\":[{\"N\":\"1\"},{\"S\":\"a\"},{\"BOOL\":true}]}"},
        {"{}", "{\"M\":{}}"},
        {"ddb.list()", "{\"L\":[]}"},
        {"ddb.list{1}", "{\"L\":[{\"N\":\"1\"}]}"},
        {"ddb.map()", "{\"M\":{}}"},
        {"ddb.map{a = 1}", "{\"M\":{\"a\":{\"N\":\"1\"}}}"},
        {"{a = 1, b = {c = 'x'}}", "{\"M\":{\"a\":{\"N\":\"1\"},\"b\":{\"M\":{\"c\":{\"S\":\"x\"}}}}}"},
        {"{{}, ddb.list()}", "{\"L\":[{\"M\":{}},{\"L\":[]}]}"},
        {"{['my key'] = 1}", "{\"M\":{\"my key\":{\"N\":\"1\"}}}"},
        {"setmetatable({x = 1}, {__index = function() return 9 end})", "{\"M\":{\"x\":{\"N\":\"1\"}}}"},
        {"ddb.set{'a', 'b'}", "{\"SS\":[\"a\",\"b\"]}"},
        {"ddb.set{3, 1.5, ddb.number('1e40')}", "{\"NS\":[\"3\",\"1.5\",\"1e40\"]}"},
        {"ddb.set{ddb.binary('x'), ddb.binary('\\0\\1')}", "{\"BS\":[\"eA==\",\"AAE=\"]}"},
        {"ddb.binary('')", "{\"B\":\"\"}"},
        {"ddb.binary('hello')", "{\"B\":\"aGVsbG8=\"}"},
        {"ddb.binary('\\0\\255\\0')", "{\"B\":\"AP8A\"}"},
        {"ddb.binary('\\255\\254')", "{\"B\":\"//4=\"}"},
        {"ddb.number('12345678901234567890123456789012345678')",
         "{\"N\":\"12345678901234567890123456789012345678\"}"},
        {"ddb.number('-0.50')", "{\"N\":\"-0.50\"}"},
    };
    lua_State *L = *state;
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int top = lua_gettop(L);
        json_t *av;
        eval(L, cases[i].lua);
        av = marshal_value(L, -1, "v", err, sizeof err);
        if (!av) fail_msg("%s: %s", cases[i].lua, err);
        assert_int_equal(lua_gettop(L), top + 1);
        expect_json(cases[i].lua, av, cases[i].json);
        lua_pop(L, 1);
    }
}

static void test_large_binary(void **state)
{
    lua_State *L = *state;
    char err[256];
    json_t *av;

    eval(L, "ddb.binary(string.rep('\\0\\1\\2', 1000))");
    av = marshal_value(L, -1, "v", err, sizeof err);
    assert_non_null(av);
    assert_int_equal(json_string_length(json_object_get(av, "B")), 4000);
    lua_pop(L, 1);
    marshal_push_value(L, av);
    json_decref(av);
    lua_setglobal(L, "b");
    eval(L, "tostring(b == ddb.binary(string.rep('\\0\\1\\2', 1000)))");
    assert_string_equal(lua_tostring(L, -1), "true");
    lua_pop(L, 1);
    eval(L, "#b.value .. getmetatable(b).__name");
    assert_string_equal(lua_tostring(L, -1), "3000ddb.Binary");
    lua_pop(L, 1);
}

/* Every refusal names the path; the item is marshalled with path "Item". */
static void test_item_refusals(void **state)
{
    static const struct { const char *lua, *err; } cases[] = {
        {"{tags = {'a', 'b', 0/0}}", "Item.tags[3]: NaN cannot be stored"},
        {"{x = math.huge}", "Item.x: infinity cannot be stored"},
        {"{x = -math.huge}", "Item.x: -infinity cannot be stored"},
        {"{profile = {address = {zip = '\\255'}}}",
         "Item.profile.address.zip: string is not valid UTF-8 (use ddb.binary for bytes)"},
        {"{s = 'a\\xED\\xA0\\x80'}", "Item.s: string is not valid UTF-8 (use ddb.binary for bytes)"},
        {"{s = '\\xC0\\x80'}", "Item.s: string is not valid UTF-8 (use ddb.binary for bytes)"},
        {"{s = ddb.set{}}", "Item.s: a set cannot be empty"},
        {"{s = ddb.set{'a', 1}}", "Item.s: set mixes strings and numbers"},
        {"{s = ddb.set{ddb.binary('a'), 'a'}}", "Item.s: set mixes binaries and strings"},
        {"{s = ddb.set{1, ddb.binary('a')}}", "Item.s: set mixes numbers and binaries"},
        {"{s = ddb.set{'a', 'b', 'a'}}", "Item.s[3]: duplicate set element"},
        {"{s = ddb.set{1, 1.0}}", "Item.s[2]: duplicate set element"},
        {"{s = ddb.set{ddb.number('10'), ddb.number('1E+1')}}", "Item.s[2]: duplicate set element"},
        {"{s = ddb.set{ddb.binary('a'), ddb.binary('a')}}", "Item.s[2]: duplicate set element"},
        {"{s = ddb.set{true}}", "Item.s[1]: set elements must be strings, numbers or ddb.binary, not boolean"},
        {"{s = ddb.set{'a', ddb.null}}", "Item.s[2]: set elements must be strings, numbers or ddb.binary, not ddb.null"},
        {"{s = ddb.set{{}}}", "Item.s[1]: set elements must be strings, numbers or ddb.binary, not table"},
        {"{s = ddb.set{'a', '\\255'}}", "Item.s[2]: string is not valid UTF-8 (use ddb.binary for bytes)"},
        {"{s = ddb.set{1, 0/0}}", "Item.s[2]: NaN cannot be stored"},
        {"{s = setmetatable({[1] = 'a', [3] = 'b'}, getmetatable(ddb.set{}))}", "Item.s: set elements must be at keys 1..n"},
        {"{t = {[1] = 1, [3] = 3}}",
         "Item.t: table keys are not a sequence 1..n: maps need string keys, lists keys 1..n"},
        {"{t = {[0] = 1}}", "Item.t: table keys are not a sequence 1..n: maps need string keys, lists keys 1..n"},
        {"{t = {[true] = 1}}", "Item.t: table has a boolean key: maps need string keys, lists keys 1..n"},
        {"{t = {[1.5] = 1}}", "Item.t: table has a float key: maps need string keys, lists keys 1..n"},
        {"{t = {1, 2, x = 3}}", "Item.t: table mixes string and integer keys: maps need string keys, lists keys 1..n"},
        {"{t = ddb.list{x = 1}}", "Item.t: table has string keys: lists need keys 1..n"},
        {"{t = ddb.map{1}}", "Item.t: table has integer keys: maps need string keys"},
        {"{f = print}", "Item.f: unsupported value of type function"},
        {"{co = coroutine.create(print)}", "Item.co: unsupported value of type thread"},
        {"{u = io.stdout}", "Item.u: unsupported value of type userdata"},
        {"(function() local t = {a = {}}; t.a.b = t; return t end)()", "Item.a.b: cyclic table (it contains itself)"},
        {"(function() local t = {}; t[1] = t; return {l = t} end)()", "Item.l[1]: cyclic table (it contains itself)"},
        {"{['my key'] = {0/0}}", "Item[\"my key\"][1]: NaN cannot be stored"},
        {"{['a\"b\\n'] = 0/0}", "Item[\"a\\\"b\\010\"]: NaN cannot be stored"},
        {"{['\\255'] = 1}", "Item[\"\\255\"]: key is not valid UTF-8"},
        {"{n = setmetatable({value = 'abc'}, getmetatable(ddb.number('1')))}", "Item.n: \"abc\" is not a DynamoDB number"},
        {"{n = setmetatable({}, getmetatable(ddb.number('1')))}", "Item.n: malformed ddb.number (value is not a string)"},
        {"{b = setmetatable({value = 1}, getmetatable(ddb.binary('')))}", "Item.b: malformed ddb.binary (value is not a string)"},
        {"{1, 2}", "Item: table has integer keys: maps need string keys"},
        {"ddb.list()", "Item: a ddb.list is not a map"},
        {"ddb.set{1}", "Item: a ddb.set is only allowed as an attribute value"},
        {"'x'", "Item: an item must be a table, not string"},
    };
    lua_State *L = *state;
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int top = lua_gettop(L);
        json_t *j;
        eval(L, cases[i].lua);
        j = marshal_item(L, -1, "Item", err, sizeof err);
        if (j) {
            json_decref(j);
            fail_msg("%s: accepted", cases[i].lua);
        }
        assert_int_equal(lua_gettop(L), top + 1);
        expect_str(cases[i].lua, err, cases[i].err);
        lua_pop(L, 1);
    }
}

static void test_value_refusals(void **state)
{
    lua_State *L = *state;
    char err[256], tiny[12];

    lua_pushnil(L);
    assert_null(marshal_value(L, -1, "v", err, sizeof err));
    assert_string_equal(err, "v: nil cannot be stored (use ddb.null)");
    lua_pop(L, 1);

    lua_pushnumber(L, NAN);
    assert_null(marshal_value(L, -1, NULL, err, sizeof err));
    assert_string_equal(err, "NaN cannot be stored");
    assert_null(marshal_value(L, -1, "a.very.long.path", tiny, sizeof tiny));
    assert_string_equal(tiny, "a.very.long");   /* truncated to the buffer */
    lua_pop(L, 1);
}

static void test_depth_and_long_paths(void **state)
{
    lua_State *L = *state;
    char err[512], want[512];
    json_t *j;

    /* 32 nested maps are DynamoDB's limit. */
    eval(L, "(function() local t = {} for i = 1, 31 do t = {a = t} end return {a = t} end)()");
    j = marshal_item(L, -1, "Item", err, sizeof err);
    if (!j) fail_msg("32 levels refused: %s", err);
    json_decref(j);
    lua_pop(L, 1);

    eval(L, "(function() local t = {} for i = 1, 32 do t = {a = t} end return {a = t} end)()");
    assert_null(marshal_item(L, -1, "Item", err, sizeof err));
    strcpy(want, "Item");
    for (int i = 0; i < 33; i++) strcat(want, ".a");
    strcat(want, ": nested deeper than 32 levels");
    assert_string_equal(err, want);
    lua_pop(L, 1);

    eval(L, "{[string.rep('k', 300)] = 0/0}");
    assert_null(marshal_item(L, -1, "Item", err, sizeof err));
    strcpy(want, "Item.");
    memset(want + 5, 'k', 247);
    strcpy(want + 5 + 247, "...: NaN cannot be stored");
    assert_string_equal(err, want);
    lua_pop(L, 1);
}

/* --- round trip --- */

static const char every_type_item[] =
    "{\n"
    "  s = 'h\\u{E9}llo \\u{2713}', empty_s = '', nul = 'a\\0b',\n"
    "  i = 42, neg = -7, imax = math.maxinteger, imin = math.mininteger,\n"
    "  f = 0.1, third = 1/3, tiny = 5e-324, whole = 3.0,\n"
    "  big = ddb.number('12345678901234567890123456789012345678'),\n"
    "  precise = ddb.number('0.3000000000000000444'),\n"
    "  yes = true, no = false, none = ddb.null,\n"
    "  empty_list = ddb.list(), empty_map = {},\n"
    "  list = {1, 'two', {three = 3}, {4, {5}}, ddb.list()},\n"
    "  map = {nested = {deeper = {list = {ddb.null, false}}}, ['odd key'] = 1},\n"
    "  ss = ddb.set{'b', 'a'}, ns = ddb.set{1, 2.5, ddb.number('12345678901234567890.5')},\n"
    "  bs = ddb.set{ddb.binary('\\0\\1'), ddb.binary('x')},\n"
    "  bin = ddb.binary('\\0bin\\0ary\\255'), empty_bin = ddb.binary(''),\n"
    "}";

static void test_round_trip(void **state)
{
    lua_State *L = *state;
    char err[256], *first, *second;
    char desc[2048];
    json_t *j, *parsed;

    eval(L, every_type_item);
    j = marshal_item(L, -1, "Item", err, sizeof err);
    if (!j) fail_msg("%s", err);
    lua_pop(L, 1);
    first = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    assert_non_null(first);

    parsed = parse(first);
    marshal_push_item(L, parsed);
    json_decref(parsed);
    j = marshal_item(L, -1, "Item", err, sizeof err);
    if (!j) fail_msg("%s", err);
    second = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    expect_str("round trip", second, first);

    expect_str("item as Lua", describe_top(L, desc, sizeof desc),
               "{big=num(12345678901234567890123456789012345678),bin=bin(\"\\0bin\\0ary\xFF\"),"
               "bs=Set[bin(\"\\0\\1\"),bin(\"x\")],empty_bin=bin(\"\"),empty_list=L[],empty_map={},"
               "empty_s=\"\",f=0.10000000000000001,i=42,imax=9223372036854775807,"
               "imin=-9223372036854775808,list=L[1,\"two\",{three=3},L[4,L[5]],L[]],"
               "map={nested={deeper={list=L[null,false]}},odd key=1},neg=-7,no=false,none=null,"
               "ns=Set[1,2.5,num(12345678901234567890.5)],nul=\"a\\0b\",precise=num(0.3000000000000000444),"
               "s=\"h\xC3\xA9llo \xE2\x9C\x93\",ss=Set[\"b\",\"a\"],third=0.33333333333333331,"
               "tiny=4.9406564584124654e-324,whole=3,yes=true}");
    expect_str("item as JSON", first,
               "{\"big\":{\"N\":\"12345678901234567890123456789012345678\"},\"bin\":{\"B\":\"AGJpbgBhcnn/\"},"
               "\"bs\":{\"BS\":[\"AAE=\",\"eA==\"]},\"empty_bin\":{\"B\":\"\"},\"empty_list\":{\"L\":[]},"
               "\"empty_map\":{\"M\":{}},\"empty_s\":{\"S\":\"\"},\"f\":{\"N\":\"0.1\"},\"i\":{\"N\":\"42\"},"
               "\"imax\":{\"N\":\"9223372036854775807\"},\"imin\":{\"N\":\"-9223372036854775808\"},"
               "\"list\":{\"L\":[{\"N\":\"1\"},{\"S\":\"two\"},{\"M\":{\"three\":{\"N\":\"3\"}}},"
               "{\"L\":[{\"N\":\"4\"},{\"L\":[{\"N\":\"5\"}]}]},{\"L\":[]}]},"
               "\"map\":{\"M\":{\"nested\":{\"M\":{\"deeper\":{\"M\":{\"list\":{\"L\":[{\"NULL\":true},"
               "{\"BOOL\":false}]}}}}},\"odd key\":{\"N\":\"1\"}}},\"neg\":{\"N\":\"-7\"},"
               "\"no\":{\"BOOL\":false},\"none\":{\"NULL\":true},"
               "\"ns\":{\"NS\":[\"1\",\"2.5\",\"12345678901234567890.5\"]},\"nul\":{\"S\":\"a\\u0000b\"},"
               "\"precise\":{\"N\":\"0.3000000000000000444\"},\"s\":{\"S\":\"h\xC3\xA9llo \xE2\x9C\x93\"},"
               "\"ss\":{\"SS\":[\"b\",\"a\"]},\"third\":{\"N\":\"0.3333333333333333\"},"
               "\"tiny\":{\"N\":\"4.94065645841247e-324\"},\"whole\":{\"N\":\"3\"},\"yes\":{\"BOOL\":true}}");
    free(first);
    free(second);
}

/* --- AttributeValue -> Lua --- */

static void test_push_value(void **state)
{
    static const struct { const char *json, *want; } cases[] = {
        {"{\"S\":\"x\"}", "\"x\""},
        {"{\"S\":\"a\\u0000b\"}", "\"a\\0b\""},
        {"{\"N\":\"42\"}", "42"},
        {"{\"N\":\"-0\"}", "0"},
        {"{\"N\":\"1E+2\"}", "100"},
        {"{\"N\":\"-9223372036854775808\"}", "-9223372036854775808"},
        {"{\"N\":\"0.1\"}", "0.10000000000000001"},
        {"{\"N\":\"1.5\"}", "1.5"},
        {"{\"N\":\"1e20\"}", "1e+20"},
        {"{\"N\":\"9223372036854775809\"}", "num(9223372036854775809)"},
        {"{\"N\":\"0.3000000000000000444\"}", "num(0.3000000000000000444)"},
        {"{\"N\":\"abc\"}", "num(abc)"},
        {"{\"BOOL\":true}", "true"},
        {"{\"BOOL\":false}", "false"},
        {"{\"NULL\":true}", "null"},
        {"{\"L\":[]}", "L[]"},
        {"{\"M\":{}}", "{}"},
        {"{\"L\":[{\"N\":\"1\"},{\"L\":[]},{\"M\":{}}]}", "L[1,L[],{}]"},
        {"{\"M\":{\"a\":{\"L\":[{\"S\":\"x\"}]},\"b\":{\"M\":{\"c\":{\"NULL\":true}}}}}", "{a=L[\"x\"],b={c=null}}"},
        {"{\"SS\":[\"a\",\"b\"]}", "Set[\"a\",\"b\"]"},
        {"{\"NS\":[\"1\",\"0.5\",\"123456789012345678901234567890\"]}", "Set[1,0.5,num(123456789012345678901234567890)]"},
        {"{\"BS\":[\"AAE=\",\"eA==\"]}", "Set[bin(\"\\0\\1\"),bin(\"x\")]"},
        {"{\"B\":\"\"}", "bin(\"\")"},
        {"{\"B\":\"aGVsbG8=\"}", "bin(\"hello\")"},
        {"{\"B\":\"AP8A\"}", "bin(\"\\0\xFF\\0\")"},
        {"{\"B\":\"//4=\"}", "bin(\"\xFF\xFE\")"},
        /* malformed AttributeValues come back as plain JSON */
        {"{\"S\":1}", "{S=1}"},
        {"{\"X\":\"y\"}", "{X=\"y\"}"},
        {"{\"S\":\"a\",\"N\":\"1\"}", "{N=\"1\",S=\"a\"}"},
        {"{\"B\":\"!!!!\"}", "{B=\"!!!!\"}"},
        {"{\"B\":\"abc\"}", "{B=\"abc\"}"},
        {"{\"SS\":[1]}", "{SS=[1]}"},
        {"{\"BS\":[\"a\"]}", "{BS=[\"a\"]}"},
        {"\"x\"", "\"x\""},
        {"null", "null"},
    };
    lua_State *L = *state;
    char buf[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int top = lua_gettop(L);
        json_t *j = parse(cases[i].json);
        marshal_push_value(L, j);
        json_decref(j);
        assert_int_equal(lua_gettop(L), top + 1);
        expect_str(cases[i].json, describe_top(L, buf, sizeof buf), cases[i].want);
    }
    marshal_push_value(L, NULL);
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 1);
}

/* --- the Lua constructors --- */

static void test_constructors(void **state)
{
    static const struct { const char *lua, *want; } cases[] = {
        {"tostring(ddb.null)", "ddb.null"},
        {"type(ddb.null)", "userdata"},
        {"tostring(ddb.is_null(ddb.null))", "true"},
        {"tostring(ddb.is_null(nil))", "false"},
        {"tostring(ddb.is_null({}))", "false"},
        {"tostring(ddb.binary('a\\0b'))", "ddb.binary(3 bytes)"},
        {"tostring(ddb.binary('ab') == ddb.binary('ab'))", "true"},
        {"tostring(ddb.binary('ab') == ddb.binary('ac'))", "false"},
        {"tostring(ddb.binary('1') == ddb.number('1'))", "false"},
        {"ddb.binary('a\\0b').value == 'a\\0b' and 'ok'", "ok"},
        {"tostring(ddb.number('1.50'))", "1.50"},
        {"tostring(ddb.number('1.5') == ddb.number('1.5'))", "true"},
        {"tostring(ddb.number('1.5') == ddb.number('1.50'))", "false"},
        {"(select(2, pcall(function() local n = ddb.number('1e') end)):gsub('^.-:1: ', ''))",
         "bad argument #1 to 'number' (\"1e\" is not a DynamoDB number (expected -?digits[.digits][e[+-]digits], "
         "at most 38 significant digits))"},
        {"(select(2, pcall(function() local n = ddb.number(5) end)):gsub('^.-:1: ', ''))",
         "bad argument #1 to 'number' (string expected, got number)"},
        {"(select(2, pcall(function() local b = ddb.binary() end)):gsub('^.-:1: ', ''))",
         "bad argument #1 to 'binary' (string expected, got no value)"},
        {"(function() local l = {1, 2}; local s = ddb.set(l); "
         "return tostring(s ~= l and s[2] == 2 and #s == 2 and getmetatable(s).__name) end)()", "ddb.Set"},
        {"getmetatable(ddb.set()).__name .. #ddb.set()", "ddb.Set0"},
        {"(function() local t = {}; return tostring(ddb.map(t) == t and getmetatable(t).__name) end)()", "ddb.Map"},
        {"getmetatable(ddb.list()).__name", "ddb.List"},
        {"ddb.type_of('x')", "S"},
        {"ddb.type_of(1)", "N"},
        {"ddb.type_of(0.5)", "N"},
        {"ddb.type_of(ddb.number('1'))", "N"},
        {"ddb.type_of(true)", "BOOL"},
        {"ddb.type_of(ddb.null)", "NULL"},
        {"ddb.type_of({})", "M"},
        {"ddb.type_of(ddb.map())", "M"},
        {"ddb.type_of({1})", "L"},
        {"ddb.type_of(ddb.list())", "L"},
        {"ddb.type_of(ddb.set{'a'})", "SS"},
        {"ddb.type_of(ddb.set{1})", "NS"},
        {"ddb.type_of(ddb.set{ddb.binary('a')})", "BS"},
        {"ddb.type_of(ddb.binary(''))", "B"},
        {"select(2, ddb.type_of(0/0))", "NaN cannot be stored"},
        {"select(2, ddb.type_of(print))", "unsupported value of type function"},
        {"select(2, ddb.type_of({x = {y = ddb.set{}}}))", "x.y: a set cannot be empty"},
        {"tostring(ddb.type_of(nil))", "nil"},
    };
    lua_State *L = *state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eval(L, cases[i].lua);
        expect_str(cases[i].lua, lua_tostring(L, -1), cases[i].want);
        lua_pop(L, 1);
    }
}

/* bind_values_open twice and lazily created registry entries share one sentinel. */
static void test_sentinel_per_state(void **state)
{
    lua_State *L = *state, *L2;
    char buf[64];
    json_t *j;

    bind_values_open(L);
    lua_getfield(L, -1, "null");
    lua_getglobal(L, "ddb");
    lua_getfield(L, -1, "null");
    assert_true(lua_rawequal(L, -1, -3));
    lua_pop(L, 4);

    L2 = luaL_newstate();
    luaL_openlibs(L2);
    j = parse("{\"NULL\":true}");
    marshal_push_value(L2, j);            /* before bind_values_open */
    json_decref(j);
    bind_values_open(L2);
    lua_getfield(L2, -1, "null");
    assert_true(lua_rawequal(L2, -1, -3));
    assert_string_equal(luaL_tolstring(L2, -1, NULL), "ddb.null");
    lua_close(L2);

    lua_getglobal(L, "ddb");
    lua_getfield(L, -1, "null");
    assert_string_equal(describe_top(L, buf, sizeof buf), "null");
    lua_pop(L, 1);
}

/* --- whole requests --- */

static void test_request_walk(void **state)
{
    static const struct { const char *lua, *json; } cases[] = {
        {"{TransactItems = {\n"
         "  {Put = {TableName = 'Users', Item = {id = 1, name = 'Ann'}, ConditionExpression = 'attribute_not_exists(id)'}},\n"
         "  {Update = {TableName = 'Users', Key = {id = 2}, UpdateExpression = 'SET #n = :v',\n"
         "             ExpressionAttributeNames = {['#n'] = 'name'}, ExpressionAttributeValues = {[':v'] = 'Bob'}}},\n"
         "  {Delete = {TableName = 'Users', Key = {id = 3}}},\n"
         "  {ConditionCheck = {TableName = 'Users', Key = {id = 4}, ConditionExpression = 'attribute_exists(id)'}},\n"
         "}, ClientRequestToken = 'tok'}",
         "{\"ClientRequestToken\":\"tok\",\"TransactItems\":["
         "{\"Put\":{\"ConditionExpression\":\"attribute_not_exists(id)\",\"Item\":{\"id\":{\"N\":\"1\"},"
         "\"name\":{\"S\":\"Ann\"}},\"TableName\":\"Users\"}},"
         "{\"Update\":{\"ExpressionAttributeNames\":{\"#n\":\"name\"},\"ExpressionAttributeValues\":"
         "{\":v\":{\"S\":\"Bob\"}},\"Key\":{\"id\":{\"N\":\"2\"}},\"TableName\":\"Users\","
         "\"UpdateExpression\":\"SET #n = :v\"}},"
         "{\"Delete\":{\"Key\":{\"id\":{\"N\":\"3\"}},\"TableName\":\"Users\"}},"
         "{\"ConditionCheck\":{\"ConditionExpression\":\"attribute_exists(id)\",\"Key\":{\"id\":{\"N\":\"4\"}},"
         "\"TableName\":\"Users\"}}]}"},
        /* BatchWriteItem with tables named "Item" and "Users" */
        {"{RequestItems = {\n"
         "  Item = {{PutRequest = {Item = {id = 'a', n = 1}}}, {DeleteRequest = {Key = {id = 'b'}}}},\n"
         "  Users = {{PutRequest = {Item = {id = 'c', tags = ddb.set{'x'}}}}},\n"
         "}, ReturnConsumedCapacity = 'TOTAL'}",
         "{\"RequestItems\":{\"Item\":[{\"PutRequest\":{\"Item\":{\"id\":{\"S\":\"a\"},\"n\":{\"N\":\"1\"}}}},"
         "{\"DeleteRequest\":{\"Key\":{\"id\":{\"S\":\"b\"}}}}],"
         "\"Users\":[{\"PutRequest\":{\"Item\":{\"id\":{\"S\":\"c\"},\"tags\":{\"SS\":[\"x\"]}}}}]},"
         "\"ReturnConsumedCapacity\":\"TOTAL\"}"},
        /* BatchGetItem with a table named "Key" */
        {"{RequestItems = {Key = {Keys = {{id = 1}, {id = 2}}, ProjectionExpression = 'id'}}}",
         "{\"RequestItems\":{\"Key\":{\"Keys\":[{\"id\":{\"N\":\"1\"}},{\"id\":{\"N\":\"2\"}}],"
         "\"ProjectionExpression\":\"id\"}}}"},
        /* Query: plain fields, an empty ExpressionAttributeNames object, a ddb.list as [] */
        {"{TableName = 'T', KeyConditionExpression = 'pk = :pk', ExpressionAttributeValues = {[':pk'] = 'x'},\n"
         " ExpressionAttributeNames = {}, Limit = 10, ScanIndexForward = false,\n"
         " ExclusiveStartKey = {pk = 'x', sk = 2}, AttributesToGet = ddb.list(), Ratio = 0.5, Nothing = ddb.null}",
         "{\"AttributesToGet\":[],\"ExclusiveStartKey\":{\"pk\":{\"S\":\"x\"},\"sk\":{\"N\":\"2\"}},"
         "\"ExpressionAttributeNames\":{},\"ExpressionAttributeValues\":{\":pk\":{\"S\":\"x\"}},"
         "\"KeyConditionExpression\":\"pk = :pk\",\"Limit\":10,\"Nothing\":null,\"Ratio\":0.5,"
         "\"ScanIndexForward\":false,\"TableName\":\"T\"}"},
        /* PartiQL */
        {"{Statement = 'SELECT * FROM T WHERE pk = ?', Parameters = {'x', 1, ddb.null}}",
         "{\"Parameters\":[{\"S\":\"x\"},{\"N\":\"1\"},{\"NULL\":true}],\"Statement\":\"SELECT * FROM T WHERE pk = ?\"}"},
        {"{Statements = {{Statement = 'INSERT', Parameters = {{a = 1}, {}}}}}",
         "{\"Statements\":[{\"Parameters\":[{\"M\":{\"a\":{\"N\":\"1\"}}},{\"M\":{}}],\"Statement\":\"INSERT\"}]}"},
        /* TagResource: a Key that holds a string is plain */
        {"{ResourceArn = 'arn', Tags = {{Key = 'env', Value = 'prod'}}}",
         "{\"ResourceArn\":\"arn\",\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}]}"},
        {"{Key = {}, Items = {}}", "{\"Items\":[],\"Key\":{}}"},
        {"{}", "{}"},
    };
    lua_State *L = *state;
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int top = lua_gettop(L);
        json_t *j;
        eval(L, cases[i].lua);
        j = marshal_request(L, -1, err, sizeof err);
        if (!j) fail_msg("%s: %s", cases[i].lua, err);
        assert_int_equal(lua_gettop(L), top + 1);
        expect_json(cases[i].lua, j, cases[i].json);
        lua_pop(L, 1);
    }
}

static void test_request_refusals(void **state)
{
    static const struct { const char *lua, *err; } cases[] = {
        {"{TransactItems = {{Put = {Item = {ok = 1}}},\n"
         "  {Update = {Key = {id = 1}, ExpressionAttributeValues = {[':v'] = {0/0}}}}}}",
         "TransactItems[2].Update.ExpressionAttributeValues[\":v\"][1]: NaN cannot be stored"},
        {"{RequestItems = {Item = {{PutRequest = {Item = {tags = ddb.set{}}}}}}}",
         "RequestItems.Item[1].PutRequest.Item.tags: a set cannot be empty"},
        {"{Item = {1, 2}}", "Item: table has integer keys: maps need string keys"},
        {"{Items = {a = 1}}", "Items: table has string keys: lists need keys 1..n"},
        {"{Items = ddb.map()}", "Items: a ddb.map is not a list"},
        {"{Limit = ddb.number('1')}", "Limit: a ddb.number is only allowed as an attribute value"},
        {"{X = ddb.binary('x')}", "X: a ddb.binary is only allowed as an attribute value"},
        {"{X = 0/0}", "X: NaN cannot be stored"},
        {"{X = '\\255'}", "X: string is not valid UTF-8 (use ddb.binary for bytes)"},
        {"{X = {[2] = 1}}", "X: table keys are not a sequence 1..n: maps need string keys, lists keys 1..n"},
        {"{F = print}", "F: unsupported value of type function"},
        {"(function() local t = {}; t.Self = {t}; return t end)()", "Self[1]: cyclic table (it contains itself)"},
        {"{1, 2}", "table has integer keys: maps need string keys"},
        {"'x'", "a request must be a table, not string"},
    };
    lua_State *L = *state;
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int top = lua_gettop(L);
        json_t *j;
        eval(L, cases[i].lua);
        j = marshal_request(L, -1, err, sizeof err);
        if (j) {
            json_decref(j);
            fail_msg("%s: accepted", cases[i].lua);
        }
        assert_int_equal(lua_gettop(L), top + 1);
        expect_str(cases[i].lua, err, cases[i].err);
        lua_pop(L, 1);
    }
}

/* --- whole responses --- */

static void test_response_walk(void **state)
{
    static const struct { const char *json, *want; } cases[] = {
        /* Query */
        {"{\"Items\":[{\"id\":{\"N\":\"1\"},\"tags\":{\"SS\":[\"a\"]}},{\"id\":{\"N\":\"2\"},\"l\":{\"L\":[]}}],"
         "\"Count\":2,\"ScannedCount\":2,\"LastEvaluatedKey\":{\"id\":{\"N\":\"2\"}},"
         "\"ConsumedCapacity\":{\"TableName\":\"T\",\"CapacityUnits\":0.5}}",
         "{ConsumedCapacity={CapacityUnits=0.5,TableName=\"T\"},Count=2,"
         "Items=[{id=1,tags=Set[\"a\"]},{id=2,l=L[]}],LastEvaluatedKey={id=2},ScannedCount=2}"},
        /* GetItem with no item, UpdateItem */
        {"{}", "{}"},
        {"{\"Attributes\":{\"n\":{\"N\":\"5\"},\"b\":{\"B\":\"AAE=\"}}}", "{Attributes={b=bin(\"\\0\\1\"),n=5}}"},
        /* TransactGetItems: Responses is a list */
        {"{\"Responses\":[{\"Item\":{\"id\":{\"S\":\"a\"}}},{}]}", "{Responses=[{Item={id=\"a\"}},{}]}"},
        /* BatchGetItem: Responses keyed by table, one of them named "Item" */
        {"{\"Responses\":{\"Users\":[{\"id\":{\"S\":\"a\"}},{\"id\":{\"S\":\"b\"}}],\"Item\":[{\"x\":{\"BOOL\":true}}]},"
         "\"UnprocessedKeys\":{\"Item\":{\"Keys\":[{\"id\":{\"N\":\"1\"}}],\"ProjectionExpression\":\"id\"}}}",
         "{Responses={Item=[{x=true}],Users=[{id=\"a\"},{id=\"b\"}]},"
         "UnprocessedKeys={Item={Keys=[{id=1}],ProjectionExpression=\"id\"}}}"},
        /* BatchWriteItem */
        {"{\"UnprocessedItems\":{\"Users\":[{\"PutRequest\":{\"Item\":{\"id\":{\"S\":\"a\"},\"b\":{\"B\":\"AAE=\"}}}},"
         "{\"DeleteRequest\":{\"Key\":{\"id\":{\"S\":\"b\"}}}}],\"Key\":[]}}",
         "{UnprocessedItems={Key=L[],Users=[{PutRequest={Item={b=bin(\"\\0\\1\"),id=\"a\"}}},"
         "{DeleteRequest={Key={id=\"b\"}}}]}}"},
        /* plain parts: lists are plain tables, JSON null is ddb.null */
        {"{\"Table\":{\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}],\"X\":null,\"Empty\":[],"
         "\"Size\":1.5,\"On\":true}}",
         "{Table={Empty=L[],KeySchema=[{AttributeName=\"id\",KeyType=\"HASH\"}],On=true,Size=1.5,X=null}}"},
        /* ExecuteStatement, ListTagsOfResource */
        {"{\"Items\":[{\"a\":{\"NULL\":true}}],\"NextToken\":\"t\"}", "{Items=[{a=null}],NextToken=\"t\"}"},
        {"{\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}]}", "{Tags=[{Key=\"env\",Value=\"prod\"}]}"},
        /* ItemCollectionMetrics of PutItem */
        {"{\"ItemCollectionMetrics\":{\"ItemCollectionKey\":{\"pk\":{\"S\":\"p\"}},\"SizeEstimateRangeGB\":[0,1]}}",
         "{ItemCollectionMetrics={ItemCollectionKey={pk=\"p\"},SizeEstimateRangeGB=[0,1]}}"},
    };
    lua_State *L = *state;
    char buf[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int top = lua_gettop(L);
        json_t *j = parse(cases[i].json);
        marshal_push_response(L, j);
        json_decref(j);
        assert_int_equal(lua_gettop(L), top + 1);
        expect_str(cases[i].json, describe_top(L, buf, sizeof buf), cases[i].want);
    }
}

/* A response read back and sent again gives the same items. */
static void test_response_to_request(void **state)
{
    lua_State *L = *state;
    const char *text = "{\"Items\":[{\"id\":{\"N\":\"1\"},\"l\":{\"L\":[]},\"m\":{\"M\":{}},"
                       "\"n\":{\"N\":\"0.3000000000000000444\"},\"b\":{\"B\":\"AAE=\"}}],"
                       "\"LastEvaluatedKey\":{\"id\":{\"N\":\"1\"}}}";
    char err[256];
    json_t *j = parse(text);

    marshal_push_response(L, j);
    json_decref(j);
    j = marshal_request(L, -1, err, sizeof err);
    if (!j) fail_msg("%s", err);
    lua_pop(L, 1);
    expect_json("response as request", j,
                "{\"Items\":[{\"b\":{\"B\":\"AAE=\"},\"id\":{\"N\":\"1\"},\"l\":{\"L\":[]},\"m\":{\"M\":{}},"
                "\"n\":{\"N\":\"0.3000000000000000444\"}}],\"LastEvaluatedKey\":{\"id\":{\"N\":\"1\"}}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_classify_number),
        cmocka_unit_test(test_whole_floats_exact),
        cmocka_unit_test(test_number_text_locale),
        cmocka_unit_test_setup_teardown(test_value_to_av, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_item_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_and_long_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constructors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_per_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_to_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
