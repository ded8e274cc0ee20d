/* What marshal.c (Lua -> JSON) and unmarshal.c (JSON -> Lua) share: how each
 * field of a request or response is converted. Private to those two files. */
#ifndef DDBRUN_MARSHAL_ROLES_H
#define DDBRUN_MARSHAL_ROLES_H

#include <stddef.h>

/* How a value is converted while walking a request or a response. */
typedef enum {
    MARSHAL_ROLE_PLAIN,       /* plain JSON; its object keys choose their values' roles */
    MARSHAL_ROLE_FIELDS,      /* a request/response object; same, but must be an object */
    MARSHAL_ROLE_AV,          /* one AttributeValue */
    MARSHAL_ROLE_ITEM,        /* attribute map */
    MARSHAL_ROLE_ITEMS,       /* list of attribute maps */
    MARSHAL_ROLE_VALUES,      /* list of AttributeValues (PartiQL Parameters) */
    MARSHAL_ROLE_TABLES,      /* keyed by table name; values plain */
    MARSHAL_ROLE_TABLE_ITEMS, /* keyed by table name; values lists of items */
    MARSHAL_ROLE_BY_KEY       /* only as a child role: look the key up */
} marshal_role;

/* The element types of a set: SS, NS, BS. */
enum { MARSHAL_ELEM_S, MARSHAL_ELEM_N, MARSHAL_ELEM_B, MARSHAL_ELEM_BAD };

/* The role of the value at field key (len bytes) of a FIELDS/PLAIN object. */
marshal_role marshal_key_role(const char *key, size_t len);

/* The role of the values inside an object / array of the given role. */
marshal_role marshal_object_child(marshal_role role);
marshal_role marshal_array_child(marshal_role role);

#endif
