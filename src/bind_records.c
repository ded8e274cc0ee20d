/* ddb.Records: the Record model as a Lua object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bind.h"
#include "marshal.h"
#include "record.h"

#define BIND_RECORDS_MT "ddb.Records"
#define BIND_CURSOR_MT  "ddb.RecordCursor"

typedef struct bind_records {
    record_table table;
} bind_records;

/* The records object at 1 and its client (kept as the object's user value).
 * The first use reads the table's layout (DescribeTable). */
static bind_records *bind_records_check(lua_State *L, ddb_client **client)
{
    bind_records *r = luaL_checkudata(L, 1, BIND_RECORDS_MT);
    lua_getiuservalue(L, 1, 1);
    *client = bind_client_check(L, -1);
    lua_pop(L, 1);
    ddb_error err;
    if (record_table_discover(*client, &r->table, &err) != 0)
        bind_raise_error(L, &err);
    return r;
}

/* opts.index marks the index as chosen (it must exist); opts.shards is the
 * layout the table must have. */
static void bind_records_layout_options(lua_State *L, bind_records *r)
{
    if (lua_getfield(L, 1, "index") != LUA_TNIL)
        r->table.index_explicit = 1;
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "shards") != LUA_TNIL) {
        int ok;
        lua_Integer n = lua_tointegerx(L, -1, &ok);
        if (!ok || n < 0 || n > RECORD_LAYOUT_MAX_SHARDS)
            luaL_error(L, "ddb.records: option 'shards' must be a whole number from 0 to %d", RECORD_LAYOUT_MAX_SHARDS);
        r->table.shards = (int)n;
    }
    lua_pop(L, 1);
}

static void bind_records_copy_name(lua_State *L, int opts, const char *field, char *dst, size_t size)
{
    if (lua_getfield(L, opts, field) != LUA_TNIL) bind_copy_name(L, "ddb.records", field, dst, size);
    lua_pop(L, 1);
}

/* ddb.records([{client =, table =, index =}]) */
static int bind_records_new(lua_State *L)
{
    int has_opts = !lua_isnoneornil(L, 1);
    if (has_opts) luaL_checktype(L, 1, LUA_TTABLE);
    bind_records *r = lua_newuserdatauv(L, sizeof *r, 1);
    luaL_setmetatable(L, BIND_RECORDS_MT);
    char err[256];
    if (record_table_from_env(&r->table, err, sizeof err) != 0) return luaL_error(L, "ddb.records: %s", err);
    if (has_opts) {
        bind_records_copy_name(L, 1, "table", r->table.table, sizeof r->table.table);
        bind_records_copy_name(L, 1, "index", r->table.index, sizeof r->table.index);
        bind_records_layout_options(L, r);
        lua_getfield(L, 1, "client");
    } else {
        lua_pushnil(L);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        ddb_config cfg;
        bind_config_resolve(L, 0, &cfg);
        bind_client_new(L, &cfg);
        config_clear(&cfg);
    }
    bind_client_check(L, -1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* A key string: any valid UTF-8, U+0000 included (it has a length). */
static const char *bind_records_key_string(lua_State *L, int idx, const char *field, size_t *len)
{
    const char *s = luaL_checklstring(L, idx, len);
    if (!marshal_utf8_valid(s, *len))
        luaL_error(L, "%s is not valid UTF-8", field);
    return s;
}

static void bind_records_key_arg(lua_State *L, int first, record_key *key)
{
    char err[256];
    key->account_id = bind_records_key_string(L, first, "AccountId", &key->account_id_len);
    key->run_time = bind_records_key_string(L, first + 1, "RunTime", &key->run_time_len);
    if (record_validate_key(key, err, sizeof err) != 0)
        luaL_error(L, "%s", err);
}

/* Marshals the item at 2, defaulting Processed to 0 and setting the shard
 * attributes of the layout. Returns a new reference. */
static json_t *bind_records_checked_item(lua_State *L, const record_layout *layout)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    char err[512];
    json_t *item = marshal_item(L, 2, "record", err, sizeof err);
    if (!item) luaL_error(L, "%s", err);
    if (!json_object_get(item, "Processed") && json_object_set_new(item, "Processed", json_pack("{s:s}", "N", "0")) != 0) {
        json_decref(item);
        luaL_error(L, "out of memory");
    }
    if (record_validate_item(item, true, err, sizeof err) != 0) {
        json_decref(item);
        luaL_error(L, "record: %s", err);
    }
    if (record_layout_stamp(layout, item) != 0) {
        json_decref(item);
        luaL_error(L, "out of memory");
    }
    return item;
}

static int bind_records_put_item(lua_State *L)
{
    ddb_client *c;
    bind_records *r = bind_records_check(L, &c);
    json_t *item = bind_records_checked_item(L, &r->table.layout);
    ddb_error err;
    int rc = record_put(c, &r->table, item, &err);
    json_decref(item);
    if (rc != 0) return bind_raise_error(L, &err);
    return 0;
}

/* The records object at 1, its client, and the key at 2 and 3. */
static bind_records *bind_records_check_with_key(lua_State *L, ddb_client **client, record_key *key)
{
    bind_records *r = bind_records_check(L, client);
    bind_records_key_arg(L, 2, key);
    return r;
}

static int bind_records_get_item(lua_State *L)
{
    ddb_client *c;
    record_key key;
    bind_records *r = bind_records_check_with_key(L, &c, &key);
    json_t **item = bind_json_box(L);
    ddb_error err;
    if (record_get(c, &r->table, &key, item, &err) != 0)
        return bind_raise_error(L, &err);
    if (!*item)
        return 0;
    marshal_push_item(L, *item);
    bind_json_box_release(L, -2);
    return 1;
}

static int bind_records_delete_item(lua_State *L)
{
    ddb_client *c;
    record_key key;
    bind_records *r = bind_records_check_with_key(L, &c, &key);
    ddb_error err;
    if (record_delete(c, &r->table, &key, &err) != 0)
        return bind_raise_error(L, &err);
    return 0;
}

static int bind_records_mark_as_processed(lua_State *L)
{
    ddb_client *c;
    record_key key;
    bind_records *r = bind_records_check_with_key(L, &c, &key);
    ddb_error err;
    record_mark_result m = record_mark_processed(c, &r->table, &key, NULL, &err);
    if (m == RECORD_FAILED)
        return bind_raise_error(L, &err);
    lua_pushboolean(L, m == RECORD_MARKED);
    return 1;
}

/* Puts a parked record (Processed = 2, past max_failures) back: true, or
 * false when it is not parked. */
static int bind_records_requeue(lua_State *L)
{
    ddb_client *c;
    record_key key;
    bind_records *r = bind_records_check_with_key(L, &c, &key);
    ddb_error err;
    record_mark_result m = record_requeue(c, &r->table, &key, &err);
    if (m == RECORD_FAILED)
        return bind_raise_error(L, &err);
    lua_pushboolean(L, m == RECORD_MARKED);
    return 1;
}

/* --- queries: a cursor userdata streams pages, one stream per shard --- */

typedef struct bind_records_stream {
    json_t *items, *last_key;
    size_t next;
    int started;
} bind_records_stream;

typedef struct cursor {
    record_query q;
    char account_id[RECORD_MAX_PARTITION_KEY + 1];
    char from[RECORD_MAX_SORT_KEY + 1], to[RECORD_MAX_SORT_KEY + 1];
    long remaining;       /* items still wanted; -1 for all */
    int count;            /* streams: the shards of a sharded index, else 1 */
    bind_records_stream s[];
} cursor;

static int bind_records_cursor_gc(lua_State *L)
{
    cursor *k = luaL_checkudata(L, 1, BIND_CURSOR_MT);
    for (int i = 0; i < k->count; i++) {
        json_decref(k->s[i].items);
        json_decref(k->s[i].last_key);
        k->s[i].items = NULL;
        k->s[i].last_key = NULL;
    }
    return 0;
}

static const char *bind_records_opt_time(lua_State *L, int opts, const char *field, char *dst)
{
    if (opts == 0) return NULL;
    lua_getfield(L, opts, field);
    size_t len = 0;
    const char *v = lua_tolstring(L, -1, &len);
    if (v && (len > RECORD_MAX_SORT_KEY || !record_is_iso8601(v))) {
        char shown[72];
        snprintf(shown, sizeof shown, "%.64s%s", v, len > 64 ? "..." : "");
        luaL_error(L, "%s '%s' is not an ISO-8601 UTC time like 2026-02-17T12:00:00Z", field, shown);
    }
    if (v) memcpy(dst, v, len + 1);
    lua_pop(L, 1);
    return v ? dst : NULL;
}

static void bind_records_copy_account(lua_State *L, int idx, cursor *k)
{
    size_t len;
    const char *acct = bind_records_key_string(L, idx, "AccountId", &len);
    if (len == 0 || len > RECORD_MAX_PARTITION_KEY)
        luaL_error(L, "AccountId must be a non-empty string of at most %d bytes", RECORD_MAX_PARTITION_KEY);
    memcpy(k->account_id, acct, len);
    k->q.account_id = k->account_id;
    k->q.account_id_len = len;
}

/* Pushes a cursor for the query; acct and opts are the stack indexes of the
 * AccountId and the options table, or 0. */
static cursor *bind_records_push_cursor(lua_State *L, const record_table *t, record_query_kind kind, int acct,
                                        int opts)
{
    int count = kind != RECORD_QUERY_ACCOUNT && t->layout.shards > 0 ? t->layout.shards : 1;
    size_t size = sizeof(cursor) + (size_t)count * sizeof(bind_records_stream);
    cursor *k = lua_newuserdatauv(L, size, 0);
    memset(k, 0, size);
    k->count = count;
    luaL_setmetatable(L, BIND_CURSOR_MT);
    k->q.kind = kind;
    k->remaining = -1;
    if (acct)
        bind_records_copy_account(L, acct, k);
    k->q.from = bind_records_opt_time(L, opts, "from", k->from);
    k->q.to = bind_records_opt_time(L, opts, "to", k->to);
    if (opts) {
        lua_getfield(L, opts, "limit");
        if (!lua_isnil(L, -1)) {
            lua_Integer limit = luaL_checkinteger(L, -1);
            if (limit < 1) luaL_error(L, "limit must be a positive whole number");
            k->remaining = (long)limit;
        }
        lua_pop(L, 1);
    }
    return k;
}

/* Makes stream i's next item available: 1, or 0 when it has no more. */
static int bind_records_stream_fill(lua_State *L, cursor *k, int i, ddb_client *c, const record_table *t)
{
    bind_records_stream *s = &k->s[i];
    while (!s->items || s->next >= json_array_size(s->items)) {
        if (s->started && !s->last_key)
            return 0;
        json_t *start = s->last_key;
        json_decref(s->items);
        s->items = NULL;
        s->last_key = NULL;
        s->next = 0;
        s->started = 1;
        /* many shards: pages of 500, so memory stays bounded */
        k->q.limit = k->remaining > 0 && k->remaining < 1000 ? (int)k->remaining : k->count > 1 ? 500 : 0;
        k->q.shard = i;
        ddb_error err;
        int rc = record_query_page(c, t, &k->q, start, &s->items, &s->last_key, &err);
        json_decref(start);
        if (rc != 0)
            return bind_raise_error(L, &err);
    }
    return 1;
}

static const char *bind_records_stream_run_time(const bind_records_stream *s)
{
    const char *rt = record_run_time(json_array_get(s->items, s->next), NULL);
    return rt ? rt : "";
}

/* Pushes the next item of the cursor (the shards' streams merged in RunTime
 * order), or nothing at the end. */
static int bind_records_cursor_next(lua_State *L, cursor *k, ddb_client *c, const record_table *t)
{
    if (k->remaining == 0)
        return 0;
    int best = -1;
    const char *best_rt = NULL;
    for (int i = 0; i < k->count; i++) {
        if (!bind_records_stream_fill(L, k, i, c, t))
            continue;
        const char *rt = bind_records_stream_run_time(&k->s[i]);
        if (best < 0 || strcmp(rt, best_rt) < 0) {
            best = i;
            best_rt = rt;
        }
    }
    if (best < 0)
        return 0;
    if (k->remaining > 0)
        k->remaining--;
    marshal_push_item(L, json_array_get(k->s[best].items, k->s[best].next++));
    return 1;
}

static int bind_records_iterate(lua_State *L)
{
    ddb_client *c;
    bind_records *r = bind_records_check(L, &c);
    cursor *k = luaL_checkudata(L, lua_upvalueindex(2), BIND_CURSOR_MT);
    return bind_records_cursor_next(L, k, c, &r->table);
}

static int bind_records_iterator_step(lua_State *L)
{
    lua_settop(L, 0);
    lua_pushvalue(L, lua_upvalueindex(1));
    return bind_records_iterate(L);
}

/* acct: the stack index of the AccountId for RECORD_QUERY_ACCOUNT, else 0. */
static int bind_records_push_iterator(lua_State *L, record_query_kind kind, int acct, int opts)
{
    ddb_client *c;
    bind_records *r = bind_records_check(L, &c);
    lua_pushvalue(L, 1);
    bind_records_push_cursor(L, &r->table, kind, acct, opts);
    lua_pushcclosure(L, bind_records_iterator_step, 2);
    return 1;
}

static int bind_records_collect_list(lua_State *L, record_query_kind kind, int acct, int opts)
{
    ddb_client *c;
    bind_records *r = bind_records_check(L, &c);
    cursor *k = bind_records_push_cursor(L, &r->table, kind, acct, opts);
    int cursor_idx = lua_gettop(L);
    lua_newtable(L);
    for (lua_Integer n = 1; bind_records_cursor_next(L, k, c, &r->table) == 1; n++)
        lua_rawseti(L, -2, n);
    lua_remove(L, cursor_idx);
    return 1;
}

static int bind_records_opts_index(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    return idx;
}

static int bind_records_query_failed(lua_State *L)
{
    return bind_records_collect_list(L, RECORD_QUERY_PARKED, 0, bind_records_opts_index(L, 2));
}

static int bind_records_query_unprocessed(lua_State *L)
{
    return bind_records_collect_list(L, RECORD_QUERY_UNPROCESSED, 0, bind_records_opts_index(L, 2));
}

static int bind_records_query_processed(lua_State *L)
{
    return bind_records_collect_list(L, RECORD_QUERY_PROCESSED, 0, bind_records_opts_index(L, 2));
}

static int bind_records_unprocessed(lua_State *L)
{
    return bind_records_push_iterator(L, RECORD_QUERY_UNPROCESSED, 0, bind_records_opts_index(L, 2));
}

static int bind_records_processed(lua_State *L)
{
    return bind_records_push_iterator(L, RECORD_QUERY_PROCESSED, 0, bind_records_opts_index(L, 2));
}

static int bind_records_query_by_account(lua_State *L)
{
    luaL_checkstring(L, 2);
    return bind_records_collect_list(L, RECORD_QUERY_ACCOUNT, 2, bind_records_opts_index(L, 3));
}

static int bind_records_by_account(lua_State *L)
{
    luaL_checkstring(L, 2);
    return bind_records_push_iterator(L, RECORD_QUERY_ACCOUNT, 2, bind_records_opts_index(L, 3));
}

static int bind_records_info(lua_State *L)
{
    ddb_client *c;
    bind_records *r = bind_records_check(L, &c);
    lua_createtable(L, 0, 4);
    bind_set_string(L, "table", r->table.table);
    bind_set_string(L, "index", record_table_index(&r->table));
    bind_set_integer(L, "shards", r->table.layout.shards);
    bind_set_string(L, "shard_attribute", r->table.layout.shard_attr[0] ? r->table.layout.shard_attr : NULL);
    return 1;
}

static int bind_records_client(lua_State *L)
{
    luaL_checkudata(L, 1, BIND_RECORDS_MT);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static const luaL_Reg records_methods[] = {
    { "put_item", bind_records_put_item },
    { "get_item", bind_records_get_item },
    { "delete_item", bind_records_delete_item },
    { "mark_as_processed", bind_records_mark_as_processed },
    { "query_unprocessed", bind_records_query_unprocessed },
    { "query_processed", bind_records_query_processed },
    { "query_failed", bind_records_query_failed },
    { "requeue", bind_records_requeue },
    { "query_by_account", bind_records_query_by_account },
    { "unprocessed", bind_records_unprocessed },
    { "processed", bind_records_processed },
    { "by_account", bind_records_by_account },
    { "info", bind_records_info },
    { "client", bind_records_client },
    { NULL, NULL },
};

/* ddb.shard_of(account_id, run_time, shards) -> 0..shards-1 (keys may hold NUL bytes) */
static int bind_records_shard_of(lua_State *L)
{
    size_t alen;
    size_t rlen;
    const char *acct = luaL_checklstring(L, 1, &alen);
    const char *rt = luaL_checklstring(L, 2, &rlen);
    lua_Integer n = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 1 && n <= RECORD_LAYOUT_MAX_SHARDS, 3, "shard count out of range");
    lua_pushinteger(L, record_shard_of(acct, alen, rt, rlen, (int)n));
    return 1;
}

void bind_records_register(lua_State *L)
{
    bind_gc_metatable(L, BIND_CURSOR_MT, bind_records_cursor_gc);

    luaL_newmetatable(L, BIND_RECORDS_MT);
    luaL_newlib(L, records_methods);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "Records");

    lua_pushcfunction(L, bind_records_new);
    lua_setfield(L, -2, "records");
    lua_pushcfunction(L, bind_records_shard_of);
    lua_setfield(L, -2, "shard_of");

    /* DynamoDB's key and item size limits, for the Lua models (ddb.user) */
    lua_createtable(L, 0, 3);
    bind_set_integer(L, "partition_key", RECORD_MAX_PARTITION_KEY);
    bind_set_integer(L, "sort_key", RECORD_MAX_SORT_KEY);
    bind_set_integer(L, "item", RECORD_MAX_ITEM_BYTES);
    lua_setfield(L, -2, "limits");
}
