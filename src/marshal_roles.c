/* How each field of a request or response is converted; see marshal_roles.h. */
#include "marshal_roles.h"

#include <string.h>

typedef struct {
    const char *key;
    marshal_role role;
} marshal_field;

static const marshal_field marshal_fields[] = {
    {"Item", MARSHAL_ROLE_ITEM},
    {"Key", MARSHAL_ROLE_ITEM},
    {"ExclusiveStartKey", MARSHAL_ROLE_ITEM},
    {"LastEvaluatedKey", MARSHAL_ROLE_ITEM},
    {"ExpressionAttributeValues", MARSHAL_ROLE_ITEM},
    {"Attributes", MARSHAL_ROLE_ITEM},
    {"ItemCollectionKey", MARSHAL_ROLE_ITEM},
    {"Items", MARSHAL_ROLE_ITEMS},
    {"Keys", MARSHAL_ROLE_ITEMS},
    {"Parameters", MARSHAL_ROLE_VALUES},
    {"RequestItems", MARSHAL_ROLE_TABLES},
    {"UnprocessedItems", MARSHAL_ROLE_TABLES},
    {"UnprocessedKeys", MARSHAL_ROLE_TABLES},
    {"Responses", MARSHAL_ROLE_TABLE_ITEMS},
};

marshal_role marshal_key_role(const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof marshal_fields / sizeof marshal_fields[0]; i++)
        if (strlen(marshal_fields[i].key) == len && memcmp(marshal_fields[i].key, key, len) == 0)
            return marshal_fields[i].role;
    return MARSHAL_ROLE_PLAIN;
}

marshal_role marshal_object_child(marshal_role role)
{
    switch (role) {
    case MARSHAL_ROLE_ITEM: return MARSHAL_ROLE_AV;
    case MARSHAL_ROLE_TABLES: return MARSHAL_ROLE_PLAIN;
    case MARSHAL_ROLE_TABLE_ITEMS: return MARSHAL_ROLE_ITEMS;
    default: return MARSHAL_ROLE_BY_KEY;
    }
}

marshal_role marshal_array_child(marshal_role role)
{
    switch (role) {
    case MARSHAL_ROLE_ITEMS: return MARSHAL_ROLE_ITEM;
    case MARSHAL_ROLE_VALUES: return MARSHAL_ROLE_AV;
    default: return MARSHAL_ROLE_PLAIN;
    }
}
