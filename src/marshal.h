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
 * cycles, nesting deeper than 32, functions, threads, other userdata.
 * Number text lives in numtext.c, the Lua constructors in bind_values.c. */
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

/* The value types, in the order of marshal_type_names: the one list of the
 * names above, used by the converters and by transfer.c. The null type's
 * metatable marks the ddb.null sentinel (a userdata); the others mark tables. */
typedef enum {
    MARSHAL_TYPE_NULL, MARSHAL_TYPE_SET, MARSHAL_TYPE_BINARY, MARSHAL_TYPE_NUMBER,
    MARSHAL_TYPE_LIST, MARSHAL_TYPE_MAP, MARSHAL_TYPE_COUNT
} marshal_type;

extern const char *const marshal_type_names[MARSHAL_TYPE_COUNT];

/* Creates the metatables and the ddb.null sentinel in L's registry when they
 * are missing (the converters call it themselves); bind_values.c adds their
 * methods and the Lua constructors (ddb.set, ddb.number, ...). May raise. */
void marshal_registry_init(lua_State *L);

/* Pushes the ddb.null sentinel and the other metatables, in the order of
 * marshal_type, creating them if needed; returns the index of the first.
 * May raise (memory, stack). */
int marshal_push_types(lua_State *L);

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

#endif
