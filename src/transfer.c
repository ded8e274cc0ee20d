/* Carrying a Lua value from one lua_State into another.
 *
 * The copy runs inside one lua_pcall on the destination, so anything raised
 * there (out of memory, a module's own error) is caught. A raise in the source
 * would longjmp across that pcall and corrupt the destination, so the walk
 * reads the source only with calls that never allocate (lua_next, rawget of
 * keys that already exist, lua_getupvalue, lua_dump into our own buffer,
 * lua_checkstack); the look-ups that may allocate (registry fields by name)
 * run first in a pcall on the source and leave their results on its stack.
 *
 * A memo in the destination maps each source object (lua_topointer as light
 * userdata) to its copy, which keeps shared references shared and ends
 * cycles; a second one maps each source upvalue (lua_upvalueid) to the first
 * copied closure holding it, so later closures join it (lua_upvaluejoin).
 * transfer_check runs the same walk with no destination: the memo then lives
 * in the source state and only records what was visited. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "transfer.h"
#include "marshal.h"

/* Stack slots made sure of before each level of the walk. */
#define TRANSFER_SLOTS 16

/* The ddb value types are marshal_type_names (marshal.h). */
#define TRANSFER_NTYPES MARSHAL_TYPE_COUNT
#define TRANSFER_NULL   MARSHAL_TYPE_NULL

/* What transfer_prepare leaves on the source stack, in this order. */
enum {
    TRANSFER_F_LOADED,
    TRANSFER_F_GLOBALS,
    TRANSFER_F_NAMEKEY,
    TRANSFER_F_TYPES,
    TRANSFER_F_COUNT = TRANSFER_F_TYPES + TRANSFER_NTYPES
};

typedef enum {
    TRANSFER_UPVALUE,
    TRANSFER_FIELD,
    TRANSFER_KEY,
    TRANSFER_METATABLE
} transfer_kind;

/* One step of the path from the named value to where the walk is. Kept as
 * plain data so an error can still be described after the stacks unwound:
 * str points into a string of the source state (an upvalue name or a key)
 * that stays alive as long as the value being carried does. */
typedef struct {
    transfer_kind kind;
    int keytype;
    int isint;
    const char *str;
    size_t len;
    lua_Integer i;
    lua_Number d;
} transfer_step;

typedef struct {
    lua_State *from;
    lua_State *to;      /* NULL when only checking */
    lua_State *work;    /* holds the tables below: to, or from when checking */
    int src;            /* the value to carry, in from */
    int fbase;          /* from: first of the TRANSFER_F_COUNT prepared values */
    int memo, upfunc, upnum, modules, fields;   /* tables in work */
    const char *name;
    char *err;
    size_t errlen;
    int failed;
    int nsteps;
    transfer_step steps[TRANSFER_MAX_DEPTH];
    char *dump;
    size_t dumplen, dumpcap;
    int dumpread;
} transfer_ctx;

typedef struct {
    char *p;
    size_t size, len;
} transfer_buf;

static int transfer_value_at(transfer_ctx *c, int idx);

/* --- error messages --- */

static void transfer_vappend(transfer_buf *b, const char *fmt, va_list ap)
{
    if (b->len + 1 >= b->size) return;
    int n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
    if (n < 0) return;
    b->len += (size_t)n;
    if (b->len >= b->size) b->len = b->size - 1;
}

static void transfer_append(transfer_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    transfer_vappend(b, fmt, ap);
    va_end(ap);
}

static int transfer_is_name(const char *s, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
    return 1;
}

static void transfer_append_key(transfer_ctx *c, transfer_buf *b, const transfer_step *s, int first)
{
    switch (s->keytype) {
    case LUA_TSTRING:
        if (transfer_is_name(s->str, s->len))
            transfer_append(b, "%s%.*s", first ? "" : ".", (int)s->len, s->str);
        else
            transfer_append(b, "[\"%.*s\"]", (int)(s->len > 40 ? 40 : s->len), s->str);
        break;
    case LUA_TNUMBER:
        if (s->isint)
            transfer_append(b, "[" LUA_INTEGER_FMT "]", s->i);
        else
            transfer_append(b, "[" LUA_NUMBER_FMT "]", s->d);
        break;
    case LUA_TBOOLEAN:
        transfer_append(b, "[%s]", s->i ? "true" : "false");
        break;
    default:
        transfer_append(b, "[%s]", lua_typename(c->from, s->keytype));
    }
}

/* Writes what steps[0..n) lead to, e.g. "upvalue 'config' of callback
 * (field 'conn')": the last upvalue, metatable or key step names the
 * variable, the field steps after it are the path inside it. */
static void transfer_describe(transfer_ctx *c, int n, transfer_buf *b)
{
    int j = n - 1;
    while (j >= 0 && c->steps[j].kind == TRANSFER_FIELD) j--;
    if (j < 0) {
        transfer_append(b, "%s", c->name);
    } else {
        const transfer_step *s = &c->steps[j];
        if (s->kind == TRANSFER_UPVALUE)
            transfer_append(b, "upvalue '%s' of ", s->str);
        else if (s->kind == TRANSFER_METATABLE)
            transfer_append(b, "the metatable of ");
        else
            transfer_append(b, "a key in ");
        transfer_describe(c, j, b);
    }
    if (j + 1 < n) {
        transfer_append(b, " (field '");
        for (int k = j + 1; k < n; k++) transfer_append_key(c, b, &c->steps[k], k == j + 1);
        transfer_append(b, "')");
    }
}

static int transfer_vfail(transfer_ctx *c, int nsteps, const char *fmt, va_list ap)
{
    c->failed = 1;
    if (!c->err || !c->errlen) return -1;
    transfer_buf b = { c->err, c->errlen, 0 };
    b.p[0] = '\0';
    transfer_append(&b, "cannot carry ");
    transfer_describe(c, nsteps, &b);
    transfer_append(&b, " into a worker: ");
    transfer_vappend(&b, fmt, ap);
    return -1;
}

/* Writes into err the refusal for what steps[0..nsteps) lead to; returns -1. */
static int transfer_fail_at(transfer_ctx *c, int nsteps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    transfer_vfail(c, nsteps, fmt, ap);
    va_end(ap);
    return -1;
}

/* The same for where the walk is. */
static int transfer_fail(transfer_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    transfer_vfail(c, c->nsteps, fmt, ap);
    va_end(ap);
    return -1;
}

/* The text of an error object; lua_tostring would convert a number in
 * place, which allocates, so only strings are read. */
static const char *transfer_message(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "(error object is not a string)";
}

/* --- the path --- */

static void transfer_push_step(transfer_ctx *c, transfer_kind kind, int keyidx, const char *upname)
{
    transfer_step *s = &c->steps[c->nsteps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->str = upname;
    if (kind != TRANSFER_FIELD) return;
    s->keytype = lua_type(c->from, keyidx);
    if (s->keytype == LUA_TSTRING) {
        s->str = lua_tolstring(c->from, keyidx, &s->len);
    } else if (s->keytype == LUA_TNUMBER) {
        s->isint = lua_isinteger(c->from, keyidx);
        if (s->isint)
            s->i = lua_tointeger(c->from, keyidx);
        else
            s->d = lua_tonumber(c->from, keyidx);
    } else if (s->keytype == LUA_TBOOLEAN) {
        s->i = lua_toboolean(c->from, keyidx);
    }
}

/* Called before walking into a table's or a function's contents: every
 * child pushes a step, so this keeps nsteps within steps[]. */
static int transfer_enter(transfer_ctx *c)
{
    /* Only the outermost variable is named: the path would be a hundred fields long. */
    if (c->nsteps >= TRANSFER_MAX_DEPTH)
        return transfer_fail_at(c, 1, "it is nested more than %d levels deep", TRANSFER_MAX_DEPTH);
    if (!lua_checkstack(c->from, TRANSFER_SLOTS)) return transfer_fail(c, "not enough memory");
    luaL_checkstack(c->work, TRANSFER_SLOTS, NULL);
    return 0;
}

/* --- the memo --- */

static void transfer_push_ptr(transfer_ctx *c, int idx)
{
    lua_pushlightuserdata(c->work, (void *)lua_topointer(c->from, idx));
}

/* Whether the source object at idx was met before; if so, and copying, its
 * copy is pushed onto to. */
static int transfer_recall(transfer_ctx *c, int idx)
{
    transfer_push_ptr(c, idx);
    if (lua_rawget(c->work, c->memo) != LUA_TNIL) {
        if (!c->to) lua_pop(c->work, 1);
        return 1;
    }
    lua_pop(c->work, 1);
    return 0;
}

/* Records the value on top of to as the copy of the source object at idx
 * (when checking, that it was met). */
static void transfer_remember(transfer_ctx *c, int idx)
{
    transfer_push_ptr(c, idx);
    if (c->to)
        lua_pushvalue(c->to, -2);
    else
        lua_pushboolean(c->work, 1);
    lua_rawset(c->work, c->memo);
}

/* --- modules --- */

static int transfer_is_object(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    return t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TUSERDATA;
}

static void transfer_push_string(transfer_ctx *c, int idx)
{
    size_t len;
    const char *s = lua_tolstring(c->from, idx, &len);
    lua_pushlstring(c->work, s, len);
}

/* Notes the source value at v as module `mod` or, when field is not 0, as
 * that field of it (both string indices in from); the first name wins. */
static void transfer_note(transfer_ctx *c, int v, int mod, int field)
{
    transfer_push_ptr(c, v);
    int known = lua_rawget(c->work, c->modules) != LUA_TNIL;
    lua_pop(c->work, 1);
    if (known) return;
    transfer_push_ptr(c, v);
    transfer_push_string(c, mod);
    lua_rawset(c->work, c->modules);
    if (!field) return;
    transfer_push_ptr(c, v);
    transfer_push_string(c, field);
    lua_rawset(c->work, c->fields);
}

/* Lua functions are only taken from real modules: a Lua function in _G was
 * most likely defined by the user's script, which the worker may not run. */
static void transfer_note_fields(transfer_ctx *c, int mod, int modname)
{
    lua_State *from = c->from;
    int globals = lua_rawequal(from, mod, c->fbase + TRANSFER_F_GLOBALS);
    lua_pushnil(from);
    while (lua_next(from, mod)) {
        int k = lua_gettop(from) - 1;
        if (lua_type(from, k) == LUA_TSTRING && lua_type(from, k + 1) == LUA_TFUNCTION
            && (lua_iscfunction(from, k + 1) || !globals))
            transfer_note(c, k + 1, modname, k);
        lua_pop(from, 1);
    }
}

/* Notes every module in from's package.loaded, then every function field of
 * one, so `local fmt = string.format` maps to the worker's string.format. */
static void transfer_note_modules(transfer_ctx *c)
{
    lua_State *from = c->from;
    int loaded = c->fbase + TRANSFER_F_LOADED;
    if (!lua_istable(from, loaded)) return;
    for (int pass = 0; pass < 2; pass++) {
        lua_pushnil(from);
        while (lua_next(from, loaded)) {
            int k = lua_gettop(from) - 1;
            if (lua_type(from, k) == LUA_TSTRING) {
                if (pass == 0 && transfer_is_object(from, k + 1))
                    transfer_note(c, k + 1, k, 0);
                else if (pass == 1 && lua_istable(from, k + 1))
                    transfer_note_fields(c, k + 1, k);
            }
            lua_pop(from, 1);
        }
    }
}

/* Pushes require(<string at mod>) run in to or, when field is not 0, its
 * field <string at field>. */
static int transfer_require(transfer_ctx *c, int mod, int field)
{
    lua_State *to = c->to;
    lua_getglobal(to, "require");
    lua_pushvalue(to, mod);
    if (lua_pcall(to, 1, 1, 0) != LUA_OK)
        return transfer_fail(c, "require(\"%s\") failed in the worker: %s",
                             lua_tostring(to, mod), transfer_message(to, -1));
    if (!field) return 0;
    if (lua_type(to, -1) == LUA_TTABLE) {
        lua_pushvalue(to, field);
        if (lua_rawget(to, -2) != LUA_TNIL) {
            lua_remove(to, -2);
            return 0;
        }
    }
    return transfer_fail(c, "the worker's module '%s' has no field '%s'",
                         lua_tostring(to, mod), lua_tostring(to, field));
}

/* Returns 1 when the source value at idx is a loaded module or a function
 * field of one (its counterpart in to pushed when copying), 0 when it is
 * not, -1 on failure. */
static int transfer_module(transfer_ctx *c, int idx)
{
    lua_State *W = c->work;
    transfer_push_ptr(c, idx);
    if (lua_rawget(W, c->modules) == LUA_TNIL) {
        lua_pop(W, 1);
        return 0;
    }
    int mod = lua_gettop(W);
    transfer_push_ptr(c, idx);
    int field = lua_rawget(W, c->fields) == LUA_TNIL ? 0 : mod + 1;
    if (c->to) {
        if (transfer_require(c, mod, field)) return -1;
        lua_replace(W, mod);
    }
    lua_settop(W, c->to ? mod : mod - 1);
    transfer_remember(c, idx);
    return 1;
}

/* --- ddb value types --- */

/* Index into marshal_type_names of the source value's metatable, or -1. */
static int transfer_ddb_type(transfer_ctx *c, int idx)
{
    int type = -1;
    if (!lua_getmetatable(c->from, idx)) return -1;
    for (int k = 0; k < TRANSFER_NTYPES && type < 0; k++)
        if (lua_rawequal(c->from, -1, c->fbase + TRANSFER_F_TYPES + k)) type = k;
    lua_pop(c->from, 1);
    return type;
}

/* Requiring ddb.core registers the metatables, so a worker that has not
 * loaded it yet gets them on first need. */
static int transfer_ddb_metatable(transfer_ctx *c, const char *type)
{
    lua_State *to = c->to;
    if (luaL_getmetatable(to, type) != LUA_TTABLE) {
        lua_pop(to, 1);
        lua_pushliteral(to, "ddb.core");
        if (transfer_require(c, lua_gettop(to), 0)) return -1;
        lua_pop(to, 2);
        if (luaL_getmetatable(to, type) != LUA_TTABLE)
            return transfer_fail(c, "the worker has no metatable '%s'", type);
    }
    lua_setmetatable(to, -2);
    return 0;
}

static int transfer_null(transfer_ctx *c)
{
    lua_State *to = c->to;
    if (!to) return 0;
    lua_pushliteral(to, "ddb.core");
    lua_pushliteral(to, "null");
    int mod = lua_gettop(to) - 1;
    if (transfer_require(c, mod, mod + 1)) return -1;
    lua_replace(to, mod);
    lua_settop(to, mod);
    return 0;
}

/* --- tables --- */

static int transfer_fields(transfer_ctx *c, int idx)
{
    lua_State *from = c->from;
    lua_pushnil(from);
    while (lua_next(from, idx)) {
        int k = lua_gettop(from) - 1;
        transfer_push_step(c, TRANSFER_KEY, 0, NULL);
        if (transfer_value_at(c, k)) return -1;
        c->nsteps--;
        transfer_push_step(c, TRANSFER_FIELD, k, NULL);
        if (transfer_value_at(c, k + 1)) return -1;
        c->nsteps--;
        if (c->to) lua_rawset(c->to, -3);
        lua_pop(from, 1);
    }
    return 0;
}

static int transfer_metatable(transfer_ctx *c, int idx)
{
    if (!lua_getmetatable(c->from, idx)) return 0;
    transfer_push_step(c, TRANSFER_METATABLE, 0, NULL);
    if (transfer_value_at(c, lua_gettop(c->from))) return -1;
    if (c->to) {
        if (!lua_istable(c->to, -1)) return transfer_fail(c, "it is not a table in the worker");
        lua_setmetatable(c->to, -2);
    }
    c->nsteps--;
    lua_pop(c->from, 1);
    return 0;
}

/* Fields first, metatable last, so no __newindex runs while filling. */
static int transfer_table(transfer_ctx *c, int idx)
{
    int type = transfer_ddb_type(c, idx);
    if (transfer_enter(c)) return -1;
    if (c->to) lua_newtable(c->to);
    transfer_remember(c, idx);
    if (transfer_fields(c, idx)) return -1;
    if (type < 0) return transfer_metatable(c, idx);
    return c->to ? transfer_ddb_metatable(c, marshal_type_names[type]) : 0;
}

/* --- functions --- */

static int transfer_writer(lua_State *L, const void *p, size_t size, void *ud)
{
    transfer_ctx *c = ud;
    (void)L;
    if (size == 0) return 0;
    if (size > c->dumpcap - c->dumplen) {
        size_t cap = c->dumpcap ? c->dumpcap : 1024;
        while (cap - c->dumplen < size) {
            if (cap > SIZE_MAX / 2) return 1;
            cap *= 2;
        }
        char *d = realloc(c->dump, cap);
        if (!d) return 1;
        c->dump = d;
        c->dumpcap = cap;
    }
    memcpy(c->dump + c->dumplen, p, size);
    c->dumplen += size;
    return 0;
}

static const char *transfer_reader(lua_State *L, void *ud, size_t *size)
{
    transfer_ctx *c = ud;
    (void)L;
    if (c->dumpread) {
        *size = 0;
        return NULL;
    }
    c->dumpread = 1;
    *size = c->dumplen;
    return c->dump;
}

/* Not stripped: the copy keeps its source name and line numbers, so errors
 * and tracebacks in a worker still point at the user's file:line. */
static int transfer_load(transfer_ctx *c, int idx, const char *chunkname)
{
    c->dumplen = 0;
    lua_pushvalue(c->from, idx);
    int status = lua_dump(c->from, transfer_writer, c, 0);
    lua_pop(c->from, 1);
    if (status != 0) return transfer_fail(c, "it is a function that cannot be dumped");
    c->dumpread = 0;
    if (lua_load(c->to, transfer_reader, c, chunkname, "b") != LUA_OK)
        return transfer_fail(c, "it cannot be loaded in the worker: %s", transfer_message(c->to, -1));
    return 0;
}

/* If an earlier closure carried the same source upvalue, joins upvalue n of
 * dst to it and returns 1. Otherwise records dst's as that upvalue's copy and
 * returns 0; recording before the value is carried lets the closures met
 * while carrying it join this one. */
static int transfer_shared(transfer_ctx *c, void *id, int dst, int n)
{
    lua_State *to = c->to;
    lua_pushlightuserdata(to, id);
    if (lua_rawget(to, c->upfunc) == LUA_TFUNCTION) {
        lua_pushlightuserdata(to, id);
        lua_rawget(to, c->upnum);
        lua_upvaluejoin(to, dst, n, -2, (int)lua_tointeger(to, -1));
        lua_pop(to, 2);
        return 1;
    }
    lua_pop(to, 1);
    lua_pushlightuserdata(to, id);
    lua_pushvalue(to, dst);
    lua_rawset(to, c->upfunc);
    lua_pushlightuserdata(to, id);
    lua_pushinteger(to, n);
    lua_rawset(to, c->upnum);
    return 0;
}

/* Carries upvalue n of the source function at idx into upvalue n of the copy
 * at dst (to's stack; unused when checking). */
static int transfer_upvalue(transfer_ctx *c, int idx, int dst, int n)
{
    const char *name = lua_getupvalue(c->from, idx, n);
    int v = lua_gettop(c->from);
    transfer_push_step(c, TRANSFER_UPVALUE, 0, name && *name ? name : "?");
    if (name && strcmp(name, "_ENV") == 0 && lua_type(c->from, v) == LUA_TTABLE) {
        /* whatever environment the function had (_G, or a sandbox such as
         * busted's), in a worker it sees that worker's own globals */
        if (c->to) {
            lua_rawgeti(c->to, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
            lua_setupvalue(c->to, dst, n);
        }
    } else if (!c->to || !transfer_shared(c, lua_upvalueid(c->from, idx, n), dst, n)) {
        if (transfer_value_at(c, v)) return -1;
        if (c->to) lua_setupvalue(c->to, dst, n);
    }
    c->nsteps--;
    lua_pop(c->from, 1);
    return 0;
}

static int transfer_function(transfer_ctx *c, int idx)
{
    lua_Debug ar;
    if (lua_iscfunction(c->from, idx))
        return transfer_fail(c, "it is a C function that is not a field of any loaded module");
    if (transfer_enter(c)) return -1;
    lua_pushvalue(c->from, idx);
    lua_getinfo(c->from, ">Su", &ar);
    if (c->to && transfer_load(c, idx, ar.source)) return -1;
    transfer_remember(c, idx);
    int dst = c->to ? lua_gettop(c->to) : 0;
    for (int n = 1; n <= ar.nups; n++)
        if (transfer_upvalue(c, idx, dst, n)) return -1;
    return 0;
}

/* --- values --- */

static int transfer_userdata(transfer_ctx *c, int idx)
{
    lua_State *from = c->from;
    if (transfer_ddb_type(c, idx) == TRANSFER_NULL) return transfer_null(c);
    if (lua_getmetatable(from, idx)) {
        lua_pushvalue(from, c->fbase + TRANSFER_F_NAMEKEY);
        if (lua_rawget(from, -2) == LUA_TSTRING) {
            const char *type = lua_tostring(from, -1);
            return transfer_fail(c, "it is a %s (userdata); create it inside the callback%s", type,
                                 strcmp(type, "ddb.Client") == 0 ? " or use ctx.client" : "");
        }
    }
    return transfer_fail(c, "it is a userdata; create it inside the callback");
}

static int transfer_object(transfer_ctx *c, int idx)
{
    if (transfer_recall(c, idx)) return 0;
    if (lua_rawequal(c->from, idx, c->fbase + TRANSFER_F_GLOBALS)) {
        if (c->to) lua_rawgeti(c->to, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
        transfer_remember(c, idx);
        return 0;
    }
    int module = transfer_module(c, idx);
    if (module) return module < 0 ? -1 : 0;
    switch (lua_type(c->from, idx)) {
    case LUA_TTABLE:
        return transfer_table(c, idx);
    case LUA_TFUNCTION:
        return transfer_function(c, idx);
    default:
        return transfer_userdata(c, idx);
    }
}

/* Pushes onto to the copy of the source value at idx (absolute); when
 * checking, only walks it. */
static int transfer_value_at(transfer_ctx *c, int idx)
{
    lua_State *from = c->from, *to = c->to;
    switch (lua_type(from, idx)) {
    case LUA_TNIL:
        if (to) lua_pushnil(to);
        return 0;
    case LUA_TBOOLEAN:
        if (to) lua_pushboolean(to, lua_toboolean(from, idx));
        return 0;
    case LUA_TNUMBER:
        if (!to) return 0;
        if (lua_isinteger(from, idx))
            lua_pushinteger(to, lua_tointeger(from, idx));
        else
            lua_pushnumber(to, lua_tonumber(from, idx));
        return 0;
    case LUA_TSTRING:
        if (to) {
            size_t len;
            const char *s = lua_tolstring(from, idx, &len);
            lua_pushlstring(to, s, len);
        }
        return 0;
    case LUA_TLIGHTUSERDATA:
        return transfer_fail(c, "it is a light userdata");
    case LUA_TTHREAD:
        return transfer_fail(c, "it is a coroutine; create it inside the callback");
    default:
        return transfer_object(c, idx);
    }
}

/* --- entry points --- */

/* Pushes the TRANSFER_F_* values; run protected since the look-ups by name
 * may allocate. */
static int transfer_prepare(lua_State *L)
{
    luaL_checkstack(L, TRANSFER_F_COUNT, NULL);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushliteral(L, "__name");
    for (int k = 0; k < TRANSFER_NTYPES; k++) lua_getfield(L, LUA_REGISTRYINDEX, marshal_type_names[k]);
    return TRANSFER_F_COUNT;
}

static int transfer_newtable(lua_State *L)
{
    lua_newtable(L);
    return lua_gettop(L);
}

/* The protected body: argument 1 the context; when checking, L is from and
 * argument 2 the value. Returns the copy, or nothing after a refusal. */
static int transfer_run(lua_State *L)
{
    transfer_ctx *c = lua_touserdata(L, 1);
    luaL_checkstack(L, TRANSFER_SLOTS, NULL);
    if (!c->to) {
        c->src = 2;
        c->fbase = lua_gettop(L) + 1;
        transfer_prepare(L);
    }
    if (!lua_checkstack(c->from, TRANSFER_SLOTS)) {
        transfer_fail(c, "not enough memory");
        return 0;
    }
    c->memo = transfer_newtable(L);
    c->upfunc = transfer_newtable(L);
    c->upnum = transfer_newtable(L);
    c->modules = transfer_newtable(L);
    c->fields = transfer_newtable(L);
    transfer_note_modules(c);
    if (transfer_value_at(c, c->src)) return 0;
    return c->to ? 1 : 0;
}

static void transfer_init(transfer_ctx *c, lua_State *from, lua_State *to, const char *name,
                          char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->from = from;
    c->to = to;
    c->work = to ? to : from;
    c->name = name ? name : "value";
    c->err = err;
    c->errlen = errlen;
    if (err && errlen) err[0] = '\0';
}

/* lua_pcall that turns an error raised inside into err (a refusal is
 * already there); the description uses the path as it was when raised. */
static int transfer_pcall(transfer_ctx *c, lua_State *L, int nargs, int nresults)
{
    int status = lua_pcall(L, nargs, nresults, 0);
    if (status == LUA_OK && !c->failed) return 0;
    if (status != LUA_OK && !c->failed) transfer_fail(c, "%s", transfer_message(L, -1));
    return -1;
}

int transfer_value(lua_State *from, int idx, lua_State *to, const char *name, char *err, size_t errlen)
{
    transfer_ctx c;
    int ftop = lua_gettop(from), ttop = lua_gettop(to);
    transfer_init(&c, from, to, name, err, errlen);
    if (!lua_checkstack(from, TRANSFER_F_COUNT + 1) || !lua_checkstack(to, 2))
        return transfer_fail(&c, "not enough memory");
    c.src = lua_absindex(from, idx);
    c.fbase = ftop + 1;
    lua_pushcfunction(from, transfer_prepare);
    int rc = transfer_pcall(&c, from, 0, TRANSFER_F_COUNT);
    if (rc == 0) {
        lua_pushcfunction(to, transfer_run);
        lua_pushlightuserdata(to, &c);
        rc = transfer_pcall(&c, to, 1, 1);
    }
    free(c.dump);
    lua_settop(from, ftop);
    if (rc != 0) lua_settop(to, ttop);
    return rc;
}

int transfer_check(lua_State *from, int idx, const char *name, char *err, size_t errlen)
{
    transfer_ctx c;
    int top = lua_gettop(from);
    transfer_init(&c, from, NULL, name, err, errlen);
    if (!lua_checkstack(from, 3)) return transfer_fail(&c, "not enough memory");
    idx = lua_absindex(from, idx);
    lua_pushcfunction(from, transfer_run);
    lua_pushlightuserdata(from, &c);
    lua_pushvalue(from, idx);
    int rc = transfer_pcall(&c, from, 2, 0);
    lua_settop(from, top);
    return rc;
}
