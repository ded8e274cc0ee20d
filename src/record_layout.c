#include "record_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t record_shard_hash(const char *account_id, size_t account_len, const char *run_time, size_t run_len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < account_len; i++) {
        h ^= (unsigned char)account_id[i];
        h *= 0x100000001b3ull;
    }
    h ^= 0xffu;
    h *= 0x100000001b3ull;
    for (size_t i = 0; i < run_len; i++) {
        h ^= (unsigned char)run_time[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int record_shard_of(const char *account_id, size_t account_len, const char *run_time, size_t run_len,
                    int shards)
{
    if (shards <= 1) return 0;
    return (int)(record_shard_hash(account_id, account_len, run_time, run_len) % (uint64_t)shards);
}

/* The shard count named by a shard attribute ("Shard_16" -> 16), or 0. */
static int record_layout_attr_shards(const char *name)
{
    size_t n = strlen(RECORD_SHARD_PREFIX);
    if (!name || strncmp(name, RECORD_SHARD_PREFIX, n) != 0 || !name[n]) return 0;
    char *end;
    long v = strtol(name + n, &end, 10);
    return *end == '\0' && name[n] != '0' && v >= 1 && v <= RECORD_LAYOUT_MAX_SHARDS ? (int)v : 0;
}

/* Reads an index's key schema: -1 when it is not a Processed index, else its
 * shard count (0 for the seed's key). */
static int record_layout_index_shards(const json_t *gsi)
{
    const json_t *keys = json_object_get(gsi, "KeySchema");
    const char *hash[2] = { NULL, NULL };
    const char *range = NULL;
    size_t i;
    size_t nhash = 0;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *name = json_string_value(json_object_get(k, "AttributeName"));
        const char *type = json_string_value(json_object_get(k, "KeyType"));
        if (!name || !type) return -1;
        if (strcmp(type, "RANGE") == 0)
            range = name;
        else if (nhash < 2)
            hash[nhash++] = name;
        else
            return -1;
    }
    if (!range || strcmp(range, "RunTime") != 0 || nhash == 0 || strcmp(hash[0], "Processed") != 0) return -1;
    if (nhash == 1) return 0;
    int shards = record_layout_attr_shards(hash[1]);
    return shards > 0 ? shards : -1;
}

static void record_layout_keys_text(const json_t *gsi, char *out, size_t size)
{
    size_t i;
    size_t used = 0;
    json_t *k;
    out[0] = '\0';
    json_array_foreach(json_object_get(gsi, "KeySchema"), i, k) {
        int n = snprintf(out + used, size - used, "%s%s %s", i ? ", " : "",
                         json_string_value(json_object_get(k, "AttributeName")),
                         json_string_value(json_object_get(k, "KeyType")));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static const json_t *record_layout_find(const json_t *gsis, const char *name)
{
    size_t i;
    json_t *g;
    json_array_foreach(gsis, i, g)
    {
        const char *have = json_string_value(json_object_get(g, "IndexName"));
        if (have && strcmp(have, name) == 0) return g;
    }
    return NULL;
}

/* The one ACTIVE sharded Processed index (a migrated table's), or NULL. */
static const json_t *record_layout_sharded_elsewhere(const json_t *gsis)
{
    const json_t *found = NULL;
    size_t i;
    json_t *g;
    json_array_foreach(gsis, i, g) {
        const char *status = json_string_value(json_object_get(g, "IndexStatus"));
        if (record_layout_index_shards(g) > 0 && status && strcmp(status, "ACTIVE") == 0) {
            if (found) return NULL;
            found = g;
        }
    }
    return found;
}

static void record_layout_names(const json_t *gsis, char *out, size_t size)
{
    size_t i;
    size_t used = 0;
    json_t *g;
    snprintf(out, size, "none");
    json_array_foreach(gsis, i, g) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", json_string_value(json_object_get(g, "IndexName")));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static void record_layout_writes(const json_t *gsis, record_layout *out)
{
    size_t i;
    json_t *g;
    json_array_foreach(gsis, i, g) {
        int shards = record_layout_index_shards(g);
        if (shards <= 0 || out->write_count == RECORD_LAYOUT_MAX_WRITES)
            continue;
        int seen = 0;
        for (int w = 0; w < out->write_count; w++)
            seen |= out->write_shards[w] == shards;
        if (!seen)
            out->write_shards[out->write_count++] = shards;
    }
}

static int record_layout_check(const record_layout_request *req, const json_t *g, int shards, ddb_error *err)
{
    const char *name = json_string_value(json_object_get(g, "IndexName"));
    if (shards < 0) {
        char keys[512];
        record_layout_keys_text(g, keys, sizeof keys);
        ddb_error_set(err, "LayoutError", 0, "index %s of table %s is keyed (%s), not (Processed HASH[, "
                      RECORD_SHARD_PREFIX "N HASH], RunTime RANGE)", name, req->table, keys);
        return -1;
    }
    if (req->shards >= 0 && req->shards != shards) {
        if (shards == 0)
            ddb_error_set(err, "LayoutError", 0, "RECORDS_SHARDS is %d but index %s of table %s is not sharded",
                          req->shards, name, req->table);
        else
            ddb_error_set(err, "LayoutError", 0, "RECORDS_SHARDS is %d but index %s of table %s has %d shards",
                          req->shards, name, req->table, shards);
        return -1;
    }
    return 0;
}

int record_layout_from_description(const record_layout_request *req, const json_t *table,
                                   record_layout *out, ddb_error *err)
{
    memset(out, 0, sizeof *out);
    const json_t *gsis = json_object_get(table, "GlobalSecondaryIndexes");
    const json_t *g = record_layout_find(gsis, req->index);
    if (!g && !req->index_explicit)
        g = record_layout_sharded_elsewhere(gsis);
    if (!g) {
        char names[512];
        record_layout_names(gsis, names, sizeof names);
        ddb_error_set(err, "LayoutError", 0, "table %s has no index %s (its indexes: %s); "
                      "run ddbrun scripts/create_tables.lua or set RECORDS_INDEX", req->table, req->index, names);
        return -1;
    }
    int shards = record_layout_index_shards(g);
    if (record_layout_check(req, g, shards, err) != 0) return -1;
    snprintf(out->index, sizeof out->index, "%s", json_string_value(json_object_get(g, "IndexName")));
    out->shards = shards;
    if (shards > 0)
        snprintf(out->shard_attr, sizeof out->shard_attr, RECORD_SHARD_PREFIX "%d", shards);
    record_layout_writes(gsis, out);
    return 0;
}

int record_layout_discover(ddb_client *c, const record_layout_request *req, record_layout *out, ddb_error *err)
{
    json_t *request = json_pack("{s:s}", "TableName", req->table), *response = NULL;
    if (!request) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory building a DescribeTable request");
        return -1;
    }
    int rc = ddb_client_call_json(c, "DescribeTable", request, NULL, &response, err);
    json_decref(request);
    if (rc == 0)
        rc = record_layout_from_description(req, json_object_get(response, "Table"), out, err);
    json_decref(response);
    return rc;
}

int record_layout_stamp(const record_layout *l, json_t *item)
{
    const json_t *a = json_object_get(json_object_get(item, "AccountId"), "S");
    const json_t *r = json_object_get(json_object_get(item, "RunTime"), "S");
    if (l->write_count == 0) return 0;
    if (!json_is_string(a) || !json_is_string(r)) return -1;
    for (int w = 0; w < l->write_count; w++) {
        char name[32];
        char value[16];
        int shard = record_shard_of(json_string_value(a), json_string_length(a), json_string_value(r),
                                    json_string_length(r), l->write_shards[w]);
        snprintf(name, sizeof name, RECORD_SHARD_PREFIX "%d", l->write_shards[w]);
        snprintf(value, sizeof value, "%d", shard);
        if (json_object_set_new(item, name, json_pack("{s:s}", "N", value)) != 0) return -1;
    }
    return 0;
}
