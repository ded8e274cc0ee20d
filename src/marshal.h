/* Plain Lua values <-> DynamoDB's typed JSON (document-client style).
 *
 *   string -> S, integer/float -> N, boolean -> BOOL, ddb.null -> NULL,
 *   sequence table -> L, other table -> M, ddb.set{} -> SS/NS/BS,
 *   ddb.binary(s) -> B, ddb.number("...") -> N (text kept exactly),
 *   ddb.list{}/ddb.map{} force L/M (an empty plain table is written as M).
 *
 * Lists read from DynamoDB carry the ddb.List metatable so an empty list
 * writes back as L. Numbers read back become an integer when they are an
 * integer that fits in 64 bits, a float when that float prints back as the
 * same number, and a ddb.number otherwise. The marshallers never raise on bad
 * input: they return NULL and write "path: message" into err, the path in Lua
 * syntax (Item.tags[3], Item["odd key"].x; cut with "..." past 250 bytes).
 * Refused: NaN/infinities, strings that are not UTF-8, empty/mixed/duplicate
 * sets (numbers compared by value), tables neither string-keyed nor 1..n,
 * cycles, nesting deeper than 32, functions, threads, other userdata. */
#ifndef DDBRUN_MARSHAL_H
#define DDBRUN_MARSHAL_H

#include <stddef.h>
#include <jansson.h>
#include <lua.h>

/* Registry names of the value-type metatables. */
#define MARSHAL_NULL_MT   "ddb.null"
#define MARSHAL_SET_MT    "ddb.Set"
#define MARSHAL_BINARY_MT "ddb.Binary"
#define MARSHAL_NUMBER_MT "ddb.Number"
#define MARSHAL_LIST_MT   "ddb.List"
#define MARSHAL_MAP_MT    "ddb.Map"

/* Creates the metatables and the ddb.null sentinel in L's registry (once per
 * state) and pushes a table with the constructors null, set, binary, number,
 * list, map, is_null, type_of (what marshal_value would write: "S", "N", ...,
 * or nil and the reason it cannot be stored). ddb.number raises on bad syntax.
 * The other functions create the registry entries themselves if needed. */
void marshal_open(lua_State *L);

/* The AttributeValue for the Lua value at idx ({"S":"x"}); a new reference
 * owned by the caller, or NULL with a message naming path in err. */
json_t *marshal_value(lua_State *L, int idx, const char *path, char *err, size_t errlen);

/* An attribute map (Lua table at idx -> {"name": AttributeValue, ...}); the
 * table needs string keys (or none) and must not be a ddb.list. */
json_t *marshal_item(lua_State *L, int idx, const char *path, char *err, size_t errlen);

/* A whole request table at idx: item-shaped fields (Item, Key, Keys,
 * ExclusiveStartKey, ExpressionAttributeValues, RequestItems' Put/Delete
 * requests, TransactItems' items, ...) become AttributeValue maps; every other
 * field is converted as plain JSON: an empty table is {} unless it is a
 * ddb.list, JSON null is ddb.null. Keys naming tables (RequestItems,
 * UnprocessedItems, UnprocessedKeys, Responses) never select item handling.
 * An item-shaped key whose value is not a table (Tags' Key = "env") stays
 * plain. New reference, or NULL with err set. */
json_t *marshal_request(lua_State *L, int idx, char *err, size_t errlen);

/* Push the Lua value of an AttributeValue / attribute map / whole response
 * (item-shaped fields converted back to plain values; plain JSON arrays become
 * plain tables, an empty one marked ddb.list so it is written back as []).
 * A malformed AttributeValue is pushed as plain JSON; NULL
 * pushes nil. Only memory errors raise. */
void marshal_push_value(lua_State *L, const json_t *av);
void marshal_push_item(lua_State *L, const json_t *item);
void marshal_push_response(lua_State *L, const json_t *response);

/* True when the n bytes at str are valid UTF-8 (DynamoDB's S type). */
int marshal_utf8_valid(const char *str, size_t n);

/* --- number text, usable without Lua --- */

/* Shortest of %.15g/%.16g/%.17g that reads back as exactly d (0.1 -> "0.1",
 * 3.0 -> "3"). -0.0 gives "0": DynamoDB numbers have no negative zero.
 * Returns the length, or -1 for NaN/infinity or a too-small buffer. */
int marshal_format_double(double d, char *buf, size_t size);

typedef enum { MARSHAL_NUM_INTEGER, MARSHAL_NUM_FLOAT, MARSHAL_NUM_EXACT, MARSHAL_NUM_INVALID } marshal_num_kind;

/* How a DynamoDB number's text is best held in Lua: INTEGER (fits int64,
 * *i set), FLOAT (the double prints back as the same number, *d set), EXACT
 * (keep the text as ddb.number), or INVALID (not DynamoDB number syntax).
 * i and d may be NULL. */
marshal_num_kind marshal_classify_number(const char *text, long long *i, double *d);

#endif
