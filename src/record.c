#include "record.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int record_table_from_env(record_table *t, char *err, size_t errlen)
{
    const char *table = getenv("RECORDS_TABLE"), *index = getenv("RECORDS_INDEX");
    table = table && *table ? table : RECORD_DEFAULT_TABLE;
    index = index && *index ? index : RECORD_DEFAULT_INDEX;
    if (strlen(table) >= sizeof t->table || strlen(index) >= sizeof t->index) {
        snprintf(err, errlen, "RECORDS_TABLE or RECORDS_INDEX is longer than 255 characters");
        return -1;
    }
    memset(t, 0, sizeof *t);
    strcpy(t->table, table);
    strcpy(t->index, index);
    t->index_explicit = getenv("RECORDS_INDEX") && *getenv("RECORDS_INDEX");
    t->shards = -1;
    const char *shards = getenv("RECORDS_SHARDS");
    if (shards && *shards) {
        char *end;
        errno = 0;
        long n = strtol(shards, &end, 10);
        if (errno || end == shards || *end || n < 0 || n > RECORD_LAYOUT_MAX_SHARDS) {
            snprintf(err, errlen, "RECORDS_SHARDS must be a whole number from 0 to %d, not '%.64s'",
                     RECORD_LAYOUT_MAX_SHARDS, shards);
            return -1;
        }
        t->shards = (int)n;
    }
    return 0;
}

int record_table_discover(ddb_client *c, record_table *t, ddb_error *err)
{
    if (t->discovered)
        return 0;
    record_layout_request req = { t->table, t->index, t->index_explicit, t->shards };
    if (record_layout_discover(c, &req, &t->layout, err) != 0)
        return -1;
    t->discovered = 1;
    return 0;
}

const char *record_table_index(const record_table *t)
{
    return t->discovered ? t->layout.index : t->index;
}

static int record_digits(const char *s, int n, int *value)
{
    *value = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return 0;
        *value = *value * 10 + (s[i] - '0');
    }
    return 1;
}

static int record_days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

bool record_is_iso8601(const char *s)
{
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || !record_digits(s, 4, &y) || s[4] != '-' || !record_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !record_digits(s + 8, 2, &d) || s[10] != 'T' || !record_digits(s + 11, 2, &h) || s[13] != ':' ||
        !record_digits(s + 14, 2, &mi) || s[16] != ':' || !record_digits(s + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > record_days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        const char *frac = ++p;
        while (isdigit((unsigned char)*p)) p++;
        if (p == frac) return false;
    }
    return p[0] == 'Z' && p[1] == '\0';
}

static const char *record_string_field(const json_t *item, const char *name, size_t *len)
{
    const json_t *s = json_object_get(json_object_get(item, name), "S");
    if (len)
        *len = json_is_string(s) ? json_string_length(s) : 0;
    return json_string_value(s);
}

const char *record_account_id(const json_t *item, size_t *len)
{
    return record_string_field(item, "AccountId", len);
}

const char *record_run_time(const json_t *item, size_t *len)
{
    return record_string_field(item, "RunTime", len);
}

int record_key_of(const json_t *item, record_key *key)
{
    key->account_id = record_account_id(item, &key->account_id_len);
    key->run_time = record_run_time(item, &key->run_time_len);
    return key->account_id && key->run_time ? 0 : -1;
}

int record_validate_key(const record_key *key, char *err, size_t errlen)
{
    if (!key->account_id || key->account_id_len == 0) {
        snprintf(err, errlen, "AccountId is missing: it must be a non-empty string");
        return -1;
    }
    if (key->account_id_len >= 7 && memcmp(key->account_id, "ddbrun#", 7) == 0) {
        snprintf(err, errlen, "AccountId '%.*s' is reserved: AccountIds starting with ddbrun# hold ddbrun's "
                 "own coordination items", key->account_id_len > 64 ? 64 : (int)key->account_id_len, key->account_id);
        return -1;
    }
    if (key->account_id_len > RECORD_MAX_PARTITION_KEY) {
        snprintf(err, errlen, "AccountId is longer than %d bytes", RECORD_MAX_PARTITION_KEY);
        return -1;
    }
    if (!key->run_time || key->run_time_len == 0) {
        snprintf(err, errlen, "RunTime is missing: it must be an ISO-8601 UTC time string");
        return -1;
    }
    if (key->run_time_len > RECORD_MAX_SORT_KEY || strlen(key->run_time) != key->run_time_len ||
        !record_is_iso8601(key->run_time)) {
        snprintf(err, errlen, "RunTime '%.64s' is not an ISO-8601 UTC time like 2026-02-17T12:00:00Z", key->run_time);
        return -1;
    }
    return 0;
}

/* DynamoDB's item size rule, approximately: attribute names plus value bytes. */
static size_t record_value_size(const json_t *av)
{
    const char *type;
    json_t *v;
    size_t size = 0;
    json_object_foreach((json_t *)av, type, v) {
        if (json_is_string(v)) size += type[0] == 'B' ? json_string_length(v) * 3 / 4 : json_string_length(v);
        else if (json_is_boolean(v) || json_is_null(v)) size += 1;
        else if (json_is_array(v)) {
            size_t i;
            json_t *e;
            size += 3;
            json_array_foreach(v, i, e) size += json_is_string(e) ? json_string_length(e) : record_value_size(e) + 1;
        } else if (json_is_object(v)) {
            const char *name;
            json_t *e;
            size += 3;
            json_object_foreach(v, name, e) size += strlen(name) + record_value_size(e) + 1;
        }
    }
    return size;
}

static int record_check_processed(const json_t *item, bool required, char *err, size_t errlen)
{
    json_t *p = json_object_get(item, "Processed");
    if (!p && !required) return 0;
    const char *n = json_string_value(json_object_get(p, "N"));
    if (!n || (strcmp(n, "0") != 0 && strcmp(n, "1") != 0)) {
        snprintf(err, errlen, "Processed must be the number 0 (unprocessed) or 1 (processed)");
        return -1;
    }
    return 0;
}

int record_validate_item(const json_t *item, bool require_processed, char *err, size_t errlen)
{
    json_t *a = json_object_get(item, "AccountId"), *r = json_object_get(item, "RunTime");
    if (a && !json_object_get(a, "S")) {
        snprintf(err, errlen, "AccountId must be a string");
        return -1;
    }
    if (r && !json_object_get(r, "S")) {
        snprintf(err, errlen, "RunTime must be a string");
        return -1;
    }
    record_key key;
    record_key_of(item, &key);
    if (record_validate_key(&key, err, errlen) != 0 || record_check_processed(item, require_processed, err, errlen) != 0)
        return -1;
    const char *name;
    json_t *v;
    size_t size = 0;
    json_object_foreach((json_t *)item, name, v) size += strlen(name) + record_value_size(v);
    if (size > RECORD_MAX_ITEM_BYTES) {
        snprintf(err, errlen, "the item is about %zu bytes, over DynamoDB's limit of 400 KB", size);
        return -1;
    }
    return 0;
}

static json_t *record_key_json(const record_key *key)
{
    return json_pack("{s:{s:s%},s:{s:s%}}", "AccountId", "S", key->account_id, key->account_id_len,
                     "RunTime", "S", key->run_time, key->run_time_len);
}

static int record_call(ddb_client *c, const char *op, json_t *request, const retry_policy *policy,
                json_t **out, ddb_error *err)
{
    if (!request) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory building a %s request", op);
        return -1;
    }
    json_object_set_new(request, "ReturnConsumedCapacity", json_string("TOTAL"));
    int rc = ddb_client_call_json(c, op, request, policy, out, err);
    json_decref(request);
    return rc;
}

int record_put(ddb_client *c, const record_table *t, const json_t *item, ddb_error *err)
{
    return record_call(c, "PutItem", json_pack("{s:s,s:O}", "TableName", t->table, "Item", item), NULL, NULL, err);
}

int record_get(ddb_client *c, const record_table *t, const record_key *key, json_t **item, ddb_error *err)
{
    json_t *out = NULL;
    int rc = record_call(c, "GetItem", json_pack("{s:s,s:o,s:b}", "TableName", t->table, "Key",
                                          record_key_json(key), "ConsistentRead", 1),
                  NULL, &out, err);
    *item = rc == 0 ? json_incref(json_object_get(out, "Item")) : NULL;
    json_decref(out);
    return rc;
}

int record_delete(ddb_client *c, const record_table *t, const record_key *key, ddb_error *err)
{
    return record_call(c, "DeleteItem", json_pack("{s:s,s:o}", "TableName", t->table, "Key", record_key_json(key)), NULL, NULL, err);
}

/* Adds the RunTime bounds of q to a key condition that already names #k/:k. */
/* The same key condition with the shard's equality after the Processed one. */
static const char *record_sharded_condition(const char *cond)
{
    if (strcmp(cond, "#k = :k") == 0)
        return "#k = :k AND #s = :s";
    if (strcmp(cond, "#k = :k AND #r >= :from") == 0)
        return "#k = :k AND #s = :s AND #r >= :from";
    if (strcmp(cond, "#k = :k AND #r <= :to") == 0)
        return "#k = :k AND #s = :s AND #r <= :to";
    return "#k = :k AND #s = :s AND #r BETWEEN :from AND :to";
}

static json_t *record_query_request(const record_table *t, const record_query *q)
{
    int on_index = q->kind != RECORD_QUERY_ACCOUNT;
    json_t *values = on_index
        ? json_pack("{s:{s:s}}", ":k", "N", q->kind == RECORD_QUERY_PROCESSED ? "1"
                                            : q->kind == RECORD_QUERY_PARKED ? "2" : "0")
        : json_pack("{s:{s:s%}}", ":k", "S", q->account_id, q->account_id_len);
    const char *cond = "#k = :k";
    if (values && q->from && q->to) {
        cond = "#k = :k AND #r BETWEEN :from AND :to";
        json_object_set_new(values, ":from", json_pack("{s:s}", "S", q->from));
        json_object_set_new(values, ":to", json_pack("{s:s}", "S", q->to));
    } else if (values && (q->from || q->to)) {
        cond = q->from ? "#k = :k AND #r >= :from" : "#k = :k AND #r <= :to";
        json_object_set_new(values, q->from ? ":from" : ":to", json_pack("{s:s}", "S", q->from ? q->from : q->to));
    }
    int sharded = on_index && t->discovered && t->layout.shards > 0;
    char shard[16];
    snprintf(shard, sizeof shard, "%d", q->shard);
    if (values && sharded)
        json_object_set_new(values, ":s", json_pack("{s:s}", "N", shard));
    json_t *req = json_pack("{s:s,s:s,s:{s:s},s:o}", "TableName", t->table, "KeyConditionExpression",
                            sharded ? record_sharded_condition(cond) : cond,
                            "ExpressionAttributeNames", "#k", on_index ? "Processed" : "AccountId",
                            "ExpressionAttributeValues", values);
    if (req && sharded)
        json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#s", json_string(t->layout.shard_attr));
    if (req && (q->from || q->to))
        json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#r", json_string("RunTime"));
    if (req && on_index)
        json_object_set_new(req, "IndexName", json_string(record_table_index(t)));
    if (req && q->limit > 0) json_object_set_new(req, "Limit", json_integer(q->limit));
    return req;
}

int record_query_page(ddb_client *c, const record_table *t, const record_query *q,
                      const json_t *start_key, json_t **items, json_t **last_key, ddb_error *err)
{
    *items = *last_key = NULL;
    json_t *req = record_query_request(t, q);
    if (req && start_key) json_object_set(req, "ExclusiveStartKey", (json_t *)start_key);
    json_t *out = NULL;
    if (record_call(c, "Query", req, q->policy, &out, err) != 0) return -1;
    *items = json_incref(json_object_get(out, "Items"));
    *last_key = json_incref(json_object_get(out, "LastEvaluatedKey"));
    json_decref(out);
    if (!json_is_array(*items)) {
        json_decref(*items);
        json_decref(*last_key);
        *items = *last_key = NULL;
        ddb_error_set(err, "InvalidResponse", 0, "Query on %s returned no Items list", t->table);
        return -1;
    }
    return 0;
}

/* Runs a conditional UpdateItem built from request (consumed): the
 * outcome as record_mark_outcome reads it. */
static record_mark_result record_conditional_update(ddb_client *c, json_t *request, const retry_policy *policy,
                                                    ddb_error *err)
{
    if (request)
        json_object_set_new(request, "ReturnConsumedCapacity", json_string("TOTAL"));
    char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
    json_decref(request);
    if (!body) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory building an UpdateItem request");
        return RECORD_FAILED;
    }
    int rc = ddb_client_call(c, "UpdateItem", body, strlen(body), policy, NULL, err);
    free(body);
    return record_mark_outcome(rc, err);
}

/* True when the n bytes at s can stand inside a JSON string as they are (no escaping needed). */
static int record_json_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* The no-lease mark, written directly when no key needs escaping: it is sent
 * once per record, and building it through jansson costs more than the rest
 * of the client's work for that record. Returns the length, or -1. */
static int record_plain_mark_body(const record_table *t, const record_key *key, char *buf, size_t size)
{
    if (!record_json_plain(t->table, strlen(t->table)) || !record_json_plain(key->account_id, key->account_id_len) ||
        !record_json_plain(key->run_time, key->run_time_len))
        return -1;
    int n = snprintf(buf, size,
                     "{\"TableName\":\"%s\",\"Key\":{\"AccountId\":{\"S\":\"%s\"},\"RunTime\":{\"S\":\"%s\"}},"
                     "\"UpdateExpression\":\"SET #p = :one\",\"ConditionExpression\":\"#p = :zero\","
                     "\"ExpressionAttributeNames\":{\"#p\":\"Processed\"},"
                     "\"ExpressionAttributeValues\":{\":one\":{\"N\":\"1\"},\":zero\":{\"N\":\"0\"}},"
                     "\"ReturnConsumedCapacity\":\"TOTAL\"}",
                     t->table, key->account_id, key->run_time);
    return n > 0 && (size_t)n < size ? n : -1;
}

int record_mark_body(const record_table *t, const record_key *key, char *buf, size_t size, char **heap)
{
    *heap = NULL;
    int len = record_plain_mark_body(t, key, buf, size);
    if (len > 0) return len;
    json_t *req = json_pack("{s:s,s:o,s:s,s:s,s:{s:s},s:{s:{s:s},s:{s:s}}}",
                            "TableName", t->table, "Key", record_key_json(key),
                            "UpdateExpression", "SET #p = :one", "ConditionExpression", "#p = :zero",
                            "ExpressionAttributeNames", "#p", "Processed",
                            "ExpressionAttributeValues", ":one", "N", "1", ":zero", "N", "0");
    if (req) json_object_set_new(req, "ReturnConsumedCapacity", json_string("TOTAL"));
    *heap = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return *heap ? (int)strlen(*heap) : -1;
}

record_mark_result record_mark_outcome(int rc, const ddb_error *err)
{
    if (rc == 0) return RECORD_MARKED;
    if (strcmp(err->code, "ConditionalCheckFailedException") != 0) return RECORD_FAILED;
    /* after an attempt whose outcome is unknown, our own write explains it */
    return err->uncertain ? RECORD_MARKED : RECORD_NOT_MARKED;
}

record_mark_result record_mark_processed(ddb_client *c, const record_table *t, const record_key *key,
                                         const retry_policy *policy, ddb_error *err)
{
    char buf[1024];
    char *heap;
    int len = record_mark_body(t, key, buf, sizeof buf, &heap);
    if (len < 0) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory building an UpdateItem request");
        return RECORD_FAILED;
    }
    int rc = ddb_client_call(c, "UpdateItem", heap ? heap : buf, (size_t)len, policy, NULL, err);
    free(heap);
    return record_mark_outcome(rc, err);
}

long record_failures(const json_t *item)
{
    const char *n = json_string_value(json_object_get(json_object_get(item, "Failures"), "N"));
    return n ? atol(n) : 0;
}

record_mark_result record_note_failure(ddb_client *c, const record_table *t, const record_key *key,
                                       long failures_seen, long max_failures, const char *message, int *parked,
                                       const retry_policy *policy, ddb_error *err)
{
    char seen[32], next[32], cut[1001];
    snprintf(seen, sizeof seen, "%ld", failures_seen);
    snprintf(next, sizeof next, "%ld", failures_seen + 1);
    size_t n = strlen(message) > 1000 ? 1000 : strlen(message);
    while (n > 0 && n < strlen(message) && ((unsigned char)message[n] & 0xC0) == 0x80)
        n--;   /* whole UTF-8 characters */
    memcpy(cut, message, n);
    cut[n] = '\0';
    *parked = max_failures > 0 && failures_seen + 1 >= max_failures;
    json_t *req = json_pack("{s:s,s:o,s:s,s:s,s:{s:s,s:s,s:s},s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}",
                            "TableName", t->table, "Key", record_key_json(key), "UpdateExpression",
                            *parked ? "SET #f = :next, #e = :msg, #p = :parked" : "SET #f = :next, #e = :msg",
                            "ConditionExpression",
                            failures_seen ? "#p = :zero AND #f = :seen" : "#p = :zero AND attribute_not_exists(#f)",
                            "ExpressionAttributeNames", "#p", "Processed", "#f", "Failures", "#e", "LastError",
                            "ExpressionAttributeValues", ":zero", "N", "0", ":next", "N", next, ":msg", "S", cut,
                            ":parked", "N", "2");
    json_t *values = json_object_get(req, "ExpressionAttributeValues");
    if (!*parked)
        json_object_del(values, ":parked");
    if (failures_seen)
        json_object_set_new(values, ":seen", json_pack("{s:s}", "N", seen));
    return record_conditional_update(c, req, policy, err);
}

record_mark_result record_requeue(ddb_client *c, const record_table *t, const record_key *key, ddb_error *err)
{
    json_t *req = json_pack("{s:s,s:o,s:s,s:s,s:{s:s,s:s,s:s},s:{s:{s:s},s:{s:s}}}", "TableName", t->table, "Key",
                            record_key_json(key), "UpdateExpression", "SET #p = :zero REMOVE #f, #e",
                            "ConditionExpression", "#p = :parked", "ExpressionAttributeNames", "#p", "Processed",
                            "#f", "Failures", "#e", "LastError", "ExpressionAttributeValues", ":zero", "N", "0",
                            ":parked", "N", "2");
    return record_conditional_update(c, req, NULL, err);
}
