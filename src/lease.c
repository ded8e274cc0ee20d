#include "lease.h"
#include "lease_state.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>


long long lease_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lease_wait_ticked(lease_set *l, long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&l->ticked, &l->lock, &t);
}

int lease_random_id(char *out, size_t size)
{
    unsigned char bytes[16];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        got += (size_t)n;
    }
    if (size < 33) return -1;
    for (size_t i = 0; i < sizeof bytes; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

int lease_portion_of(int portions, const record_key *key)
{
    /* the shard hash: on a sharded table a portion is a shard */
    return record_shard_of(key->account_id, key->account_id_len, key->run_time, key->run_time_len, portions);
}

int lease_portions(const lease_set *l)
{
    return l->portions;
}

int lease_held_count(lease_set *l)
{
    int n = 0;
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->portions; i++) n += l->p[i].held;
    pthread_mutex_unlock(&l->lock);
    return n;
}

const char *lease_owner(const lease_set *l)
{
    return l->owner;
}

int lease_foreign_item(const json_t *item, const char *table, char *msg, size_t msglen)
{
    if (!json_object_get(item, "LeaseOwner") && !json_object_get(item, "LeaseExpires")) return 0;
    snprintf(msg, msglen,
             "table %s: record (%s, %s) carries a per-record lease (LeaseOwner/LeaseExpires) written by an older "
             "ddbrun; stop every older ddbrun process on this table before running this one (a lease left by a "
             "dead one is removed with UpdateItem REMOVE LeaseOwner, LeaseExpires)",
             table, record_account_id(item, NULL) ? record_account_id(item, NULL) : "?",
             record_run_time(item, NULL) ? record_run_time(item, NULL) : "?");
    return 1;
}

/* --- requests --- */

static json_t *lease_key(const char *run_time)
{
    return json_pack("{s:{s:s},s:{s:s}}", "AccountId", "S", LEASE_ACCOUNT, "RunTime", "S", run_time);
}

static void lease_portion_name(int portion, char *out, size_t size)
{
    snprintf(out, size, "lease#%04d", portion);
}

/* Sends request (consumed). Returns 0, 1 when the condition failed, -1 on other errors. */
static int lease_send(lease_set *l, const char *op, json_t *req, json_t **out, ddb_error *err)
{
    if (!req) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory building a lease request");
        return -1;
    }
    json_object_set_new(req, "ReturnConsumedCapacity", json_string("TOTAL"));
    int rc = ddb_client_call_json(l->client, op, req, &l->policy, out, err);
    json_decref(req);
    double wcu, rcu;
    ddb_client_consumed(l->client, &wcu, &rcu);
    pthread_mutex_lock(&l->lock);
    l->stats.wcu = wcu;
    l->stats.rcu = rcu;
    pthread_mutex_unlock(&l->lock);
    if (rc == 0) return 0;
    return strcmp(err->code, "ConditionalCheckFailedException") == 0 ? 1 : -1;
}

static long long lease_number(const json_t *attr)
{
    const char *n = json_string_value(json_object_get(attr, "N"));
    return n ? atoll(n) : 0;
}

/* Reads or creates the protocol item; sets l->portions. */
static int lease_protocol(lease_set *l, ddb_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        json_t *out = NULL;
        json_t *get = json_pack("{s:s,s:o,s:b}", "TableName", l->table.table, "Key", lease_key("protocol"),
                                "ConsistentRead", 1);
        if (lease_send(l, "GetItem", get, &out, err) != 0) return -1;
        json_t *item = json_object_get(out, "Item");
        if (item) {
            long long version = lease_number(json_object_get(item, "Version"));
            l->portions = (int)lease_number(json_object_get(item, "Portions"));
            json_decref(out);
            if (version != LEASE_PROTOCOL_VERSION || l->portions < 1 || l->portions > LEASE_MAX_PORTIONS) {
                ddb_error_set(err, "ProtocolMismatch", 0,
                              "table %s is coordinated with ddbrun lease protocol %lld (%d portions); this ddbrun "
                              "speaks protocol %d: run the same ddbrun version on every machine",
                              l->table.table, version, l->portions, LEASE_PROTOCOL_VERSION);
                return -1;
            }
            return 0;
        }
        json_decref(out);
        char version[16], portions[16];
        snprintf(version, sizeof version, "%d", LEASE_PROTOCOL_VERSION);
        /* on a sharded table the shards are the portions (lease_portion_of is
         * the shard hash), so a portion's records are one index key's */
        int sharded = l->table.layout.shards > 0;
        snprintf(portions, sizeof portions, "%d", sharded ? l->table.layout.shards : LEASE_DEFAULT_PORTIONS);
        json_t *put = json_pack("{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s}},s:s}", "TableName",
                                l->table.table, "Item", "AccountId", "S", LEASE_ACCOUNT, "RunTime", "S", "protocol",
                                "Version", "N", version, "Portions", "N", portions, "Layout", "S",
                                sharded ? "shards" : "slots",
                                "ConditionExpression", "attribute_not_exists(AccountId)");
        if (lease_send(l, "PutItem", put, NULL, err) < 0) return -1;
    }
    ddb_error_set(err, "ProtocolMismatch", 0, "table %s: the lease protocol item cannot be read", l->table.table);
    return -1;
}

/* --- observation --- */

static lease_member *lease_member_find(lease_set *l, const char *owner)
{
    for (size_t i = 0; i < l->member_count; i++)
        if (strcmp(l->members[i].owner, owner) == 0) return &l->members[i];
    if (l->member_count == LEASE_MAX_MEMBERS) return NULL;
    if (l->member_count % 64 == 0) {
        lease_member *bigger = realloc(l->members, (l->member_count + 64) * sizeof *bigger);
        if (!bigger) return NULL;
        l->members = bigger;
    }
    lease_member *m = &l->members[l->member_count++];
    memset(m, 0, sizeof *m);
    snprintf(m->owner, sizeof m->owner, "%s", owner);
    m->counter = -1;
    return m;
}

static void lease_observe_counter(long long counter, long long *seen, long long *changed_ms, long long now)
{
    if (counter != *seen) {
        *seen = counter;
        *changed_ms = now;
    }
}

static void lease_observe_portion(lease_set *l, int i, const json_t *item, long long now)
{
    lease_portion *p = &l->p[i];
    const char *owner = json_string_value(json_object_get(json_object_get(item, "Owner"), "S"));
    if (!p->exists) p->counter = -1;
    p->exists = 1;
    lease_observe_counter(lease_number(json_object_get(item, "Counter")), &p->counter, &p->changed_ms, now);
    snprintf(p->owner, sizeof p->owner, "%s", owner ? owner : "");
    p->swept = json_is_true(json_object_get(json_object_get(item, "Swept"), "BOOL"));
    if (p->held && strcmp(p->owner, l->owner) != 0) {
        fprintf(stderr, "ddbrun: lost the lease on portion %d of %s to %s\n", i, l->table.table,
                *p->owner ? p->owner : "nobody");
        p->held = p->releasing = 0;
        l->stats.losses++;
    } else if (!p->held && strcmp(p->owner, l->owner) == 0) {
        /* a take whose answer was lost: ours, valid after the next heartbeat */
        p->held = 1;
        p->epoch++;
        p->valid_until_ms = 0;
        p->last_beat_ms = 0;
        p->token = p->counter;
    }
}

static void lease_observe_item(lease_set *l, const json_t *item, long long now)
{
    const char *rt = record_run_time(item, NULL);
    if (!rt) return;
    if (strncmp(rt, "lease#", 6) == 0) {
        int i = atoi(rt + 6);
        if (i >= 0 && i < l->portions) lease_observe_portion(l, i, item, now);
    } else if (strncmp(rt, "member#", 7) == 0 && strcmp(rt + 7, l->owner) != 0) {
        lease_member *m = lease_member_find(l, rt + 7);
        if (!m) return;
        lease_observe_counter(lease_number(json_object_get(item, "Counter")), &m->counter, &m->changed_ms, now);
        m->seen = 1;
    }
}

/* One consistent Query over the coordination items. */
static int lease_observe(lease_set *l, ddb_error *err)
{
    json_t *start = NULL;
    for (size_t i = 0; i < l->member_count; i++) l->members[i].seen = 0;
    do {
        json_t *req = json_pack("{s:s,s:s,s:{s:{s:s}},s:b}", "TableName", l->table.table,
                                "KeyConditionExpression", "AccountId = :a", "ExpressionAttributeValues", ":a", "S",
                                LEASE_ACCOUNT, "ConsistentRead", 1);
        if (req && start) json_object_set_new(req, "ExclusiveStartKey", start);
        else json_decref(start);
        json_t *out = NULL;
        if (lease_send(l, "Query", req, &out, err) != 0) return -1;
        long long now = lease_now_ms();
        size_t i;
        json_t *item;
        pthread_mutex_lock(&l->lock);
        json_array_foreach(json_object_get(out, "Items"), i, item) lease_observe_item(l, item, now);
        pthread_mutex_unlock(&l->lock);
        start = json_incref(json_object_get(out, "LastEvaluatedKey"));
        json_decref(out);
    } while (start);
    return 0;
}

/* --- writes --- */

static int lease_swept_now(const lease_portion *p)
{
    /* not while being handed back: its queued records were given up, not done */
    return p->held && !p->releasing && p->done_epoch == p->epoch && p->inflight == 0;
}

static void lease_heartbeat_member(lease_set *l, long long now)
{
    ddb_error err;
    json_t *req = json_pack("{s:s,s:o,s:s,s:{s:s},s:{s:{s:s},s:{s:s}}}", "TableName", l->table.table, "Key",
                            lease_key(l->member_key), "UpdateExpression", "SET #c = if_not_exists(#c, :zero) + :one",
                            "ExpressionAttributeNames", "#c", "Counter", "ExpressionAttributeValues", ":zero", "N",
                            "0", ":one", "N", "1");
    if (lease_send(l, "UpdateItem", req, NULL, &err) == 0) l->member_beat_ms = now;
}

/* Heartbeats portion i (held). The validity counts from the send time. */
static void lease_heartbeat(lease_set *l, int i, int swept)
{
    char name[32];
    lease_portion_name(i, name, sizeof name);
    long long sent = lease_now_ms();
    json_t *req = json_pack("{s:s,s:o,s:s,s:s,s:{s:s,s:s,s:s},s:{s:{s:s},s:{s:s},s:{s:b}},s:s}", "TableName",
                            l->table.table, "Key", lease_key(name), "UpdateExpression", "SET #c = #c + :one, #s = :s",
                            "ConditionExpression", "#o = :me", "ExpressionAttributeNames", "#c", "Counter", "#o",
                            "Owner", "#s", "Swept", "ExpressionAttributeValues", ":one", "N", "1", ":me", "S",
                            l->owner, ":s", "BOOL", swept, "ReturnValues", "UPDATED_NEW");
    json_t *out = NULL;
    ddb_error err;
    int rc = lease_send(l, "UpdateItem", req, &out, &err);
    pthread_mutex_lock(&l->lock);
    lease_portion *p = &l->p[i];
    p->last_beat_ms = sent;
    l->stats.heartbeats++;
    if (rc == 0 && p->held) {
        p->valid_until_ms = sent + l->lease_ms - l->margin_ms;
        p->token = lease_number(json_object_get(json_object_get(out, "Attributes"), "Counter"));
        p->swept_published = swept;
    } else if (rc == 1 && p->held) {
        fprintf(stderr, "ddbrun: lost the lease on portion %d of %s\n", i, l->table.table);
        p->held = p->releasing = 0;
        l->stats.losses++;
    }
    pthread_mutex_unlock(&l->lock);
    json_decref(out);
}

/* Takes portion i, observed with counter `seen` (-1: the item does not exist).
 * Returns 1 when taken. */
static int lease_take(lease_set *l, int i, long long seen, int inherit_swept, const char *from)
{
    char name[32], next[32], was[32];
    lease_portion_name(i, name, sizeof name);
    snprintf(next, sizeof next, "%lld", seen + 1 > 1 ? seen + 1 : 1);
    snprintf(was, sizeof was, "%lld", seen);
    long long sent = lease_now_ms();
    json_t *req = json_pack("{s:s,s:o,s:s,s:s,s:{s:s,s:s,s:s},s:{s:{s:s},s:{s:s},s:{s:b}}}", "TableName",
                            l->table.table, "Key", lease_key(name), "UpdateExpression", "SET #o = :me, #c = :next, #s = :s",
                            "ConditionExpression", seen < 0 ? "attribute_not_exists(#c)" : "#c = :was",
                            "ExpressionAttributeNames", "#c", "Counter", "#o", "Owner", "#s", "Swept",
                            "ExpressionAttributeValues", ":me", "S", l->owner, ":next", "N", next, ":s", "BOOL",
                            inherit_swept);
    if (req && seen >= 0) json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":was",
                                              json_pack("{s:s}", "N", was));
    ddb_error err;
    int rc = lease_send(l, "UpdateItem", req, NULL, &err);
    pthread_mutex_lock(&l->lock);
    lease_portion *p = &l->p[i];
    if (rc == 0) {
        p->held = 1;
        p->releasing = 0;
        p->epoch++;
        p->failed = 0;
        p->done_epoch = inherit_swept ? p->epoch : LEASE_NO_EPOCH;
        p->valid_until_ms = sent + l->lease_ms - l->margin_ms;
        p->last_beat_ms = sent;
        p->token = seen + 1 > 1 ? seen + 1 : 1;
        p->swept_published = inherit_swept;
        l->stats.takes++;
        if (from) l->stats.takeovers++;
    }
    pthread_mutex_unlock(&l->lock);
    return rc == 0;
}

/* Hands portion i back. Swept is cleared: whoever takes it next passes over
 * it again (and retries what failed here), and a later run starts afresh. */
static int lease_release(lease_set *l, int i)
{
    int swept = 0;
    char name[32];
    lease_portion_name(i, name, sizeof name);
    json_t *req = json_pack("{s:s,s:o,s:s,s:s,s:{s:s,s:s,s:s},s:{s:{s:s},s:{s:s},s:{s:b}}}", "TableName",
                            l->table.table, "Key", lease_key(name), "UpdateExpression",
                            "SET #c = #c + :one, #s = :s REMOVE #o", "ConditionExpression", "#o = :me",
                            "ExpressionAttributeNames", "#c", "Counter", "#o", "Owner", "#s", "Swept",
                            "ExpressionAttributeValues", ":one", "N", "1", ":me", "S", l->owner, ":s", "BOOL", swept);
    ddb_error err;
    int rc = lease_send(l, "UpdateItem", req, NULL, &err);
    pthread_mutex_lock(&l->lock);
    if (rc >= 0) {
        l->p[i].held = l->p[i].releasing = 0;
        l->stats.releases++;
    }
    pthread_mutex_unlock(&l->lock);
    return rc < 0 ? -1 : 0;
}

static void lease_forget_member(lease_set *l, const char *owner, long long counter)
{
    char key[LEASE_OWNER_MAX + 16], c[32];
    snprintf(key, sizeof key, "member#%.*s", LEASE_OWNER_MAX - 1, owner);
    snprintf(c, sizeof c, "%lld", counter);
    json_t *req = json_pack("{s:s,s:o,s:s,s:{s:s},s:{s:{s:s}}}", "TableName", l->table.table, "Key", lease_key(key),
                            "ConditionExpression", "#c = :c", "ExpressionAttributeNames", "#c", "Counter",
                            "ExpressionAttributeValues", ":c", "N", c);
    ddb_error err;
    lease_send(l, "DeleteItem", req, NULL, &err);
}

/* --- one round of the heartbeat thread --- */

static void lease_beat_all(lease_set *l, long long now)
{
    if (now - l->member_beat_ms >= l->beat_ms) lease_heartbeat_member(l, now);
    for (int i = 0; i < l->portions; i++) {
        pthread_mutex_lock(&l->lock);
        lease_portion *p = &l->p[i];
        int swept = lease_swept_now(p);
        int due = p->held && (now - p->last_beat_ms >= l->beat_ms || swept != p->swept_published);
        pthread_mutex_unlock(&l->lock);
        if (due) lease_heartbeat(l, i, swept);
    }
}

static void lease_release_drained(lease_set *l)
{
    for (int i = 0; i < l->portions; i++) {
        pthread_mutex_lock(&l->lock);
        int ready = l->p[i].held && l->p[i].releasing && l->p[i].inflight == 0;
        pthread_mutex_unlock(&l->lock);
        if (ready) lease_release(l, i);
    }
}

/* Live members (this process included); forgets long-silent member items. */
static int lease_live_members(lease_set *l, long long now, char (*stale)[LEASE_OWNER_MAX], long long *stale_counter,
                              int *stale_count)
{
    int live = 1;
    *stale_count = 0;
    for (size_t i = 0; i < l->member_count; i++) {
        lease_member *m = &l->members[i];
        if (!m->seen) continue;
        if (now - m->changed_ms < l->lease_ms) live++;
        else if (now - m->changed_ms >= 5 * l->lease_ms && *stale_count < 4) {
            snprintf(stale[*stale_count], LEASE_OWNER_MAX, "%s", m->owner);
            stale_counter[(*stale_count)++] = m->counter;
        }
    }
    return live;
}

typedef struct lease_plan {
    int take[LEASE_MAX_PORTIONS];
    long long seen[LEASE_MAX_PORTIONS];
    int inherit[LEASE_MAX_PORTIONS];
    char from[LEASE_MAX_PORTIONS][LEASE_OWNER_MAX];
    int take_count;
} lease_plan;

/* Chooses what to take (free first, then expired) or marks excess to shed. Under the lock. */
static void lease_plan_balance(lease_set *l, int live, long long now, lease_plan *plan)
{
    int held = 0;
    for (int i = 0; i < l->portions; i++) held += l->p[i].held && !l->p[i].releasing;
    int target = (l->portions + live - 1) / live;
    int start = (int)(l->rng++ % (uint64_t)l->portions);
    plan->take_count = 0;
    for (int pass = 0; pass < 2 && held + plan->take_count < target; pass++) {
        for (int k = 0; k < l->portions && held + plan->take_count < target; k++) {
            int i = (start + k) % l->portions;
            lease_portion *p = &l->p[i];
            if (p->held || p->inflight > 0) continue;   /* records of an earlier hold still queued */
            int free_ = !p->exists || !*p->owner;
            int expired = !free_ && now - p->changed_ms >= l->lease_ms;
            if (pass == 0 ? !free_ : !expired) continue;
            int n = plan->take_count++;
            plan->take[n] = i;
            plan->seen[n] = p->exists ? p->counter : -1;
            plan->inherit[n] = 0;   /* a new owner passes over it again */
            snprintf(plan->from[n], LEASE_OWNER_MAX, "%s", free_ ? "" : p->owner);
        }
    }
    for (int k = 0; k < l->portions && held > target; k++) {
        int i = (start + k) % l->portions;
        if (l->p[i].held && !l->p[i].releasing) {
            l->p[i].releasing = 1;
            held--;
        }
    }
}

static void lease_round(lease_set *l, lease_plan *plan)
{
    lease_beat_all(l, lease_now_ms());
    ddb_error err;
    if (lease_observe(l, &err) == 0) {
        lease_release_drained(l);
        char stale[4][LEASE_OWNER_MAX];
        long long stale_counter[4];
        int stale_count;
        pthread_mutex_lock(&l->lock);
        long long now = lease_now_ms();
        int live = lease_live_members(l, now, stale, stale_counter, &stale_count);
        if (!l->stopping) lease_plan_balance(l, live, now, plan);
        else plan->take_count = 0;
        pthread_mutex_unlock(&l->lock);
        int taken_over = 0;
        for (int k = 0; k < plan->take_count; k++)
            taken_over += lease_take(l, plan->take[k], plan->seen[k], plan->inherit[k],
                                     *plan->from[k] ? plan->from[k] : NULL) && *plan->from[k];
        if (taken_over)
            fprintf(stderr, "ddbrun: took over %d portion%s of %s after %ld ms of silence from their owner\n",
                    taken_over, taken_over == 1 ? "" : "s", l->table.table, l->lease_ms);
        for (int k = 0; k < stale_count; k++) lease_forget_member(l, stale[k], stale_counter[k]);
    }
    pthread_mutex_lock(&l->lock);
    l->ticks++;
    pthread_cond_broadcast(&l->ticked);
    pthread_mutex_unlock(&l->lock);
}

static void *lease_main(void *arg)
{
    lease_set *l = arg;
    lease_plan *plan = malloc(sizeof *plan);
    pthread_mutex_lock(&l->lock);
    while (!l->stopping && plan) {
        pthread_mutex_unlock(&l->lock);
        lease_round(l, plan);
        pthread_mutex_lock(&l->lock);
        if (!l->stopping) lease_wait_ticked(l, l->tick_ms);
    }
    pthread_mutex_unlock(&l->lock);
    free(plan);
    return NULL;
}

/* --- life cycle --- */

static void lease_free(lease_set *l)
{
    ddb_client_free(l->client);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->ticked);
    free(l->p);
    free(l->members);
    free(l);
}

static int lease_make_owner(lease_set *l)
{
    char host[48] = "host", id[33];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (lease_random_id(id, sizeof id) != 0) return -1;
    snprintf(l->owner, sizeof l->owner, "%s/%ld/%s", host, (long)getpid(), id);
    snprintf(l->member_key, sizeof l->member_key, "member#%s", l->owner);
    return 0;
}

lease_set *lease_start(const ddb_config *cfg, const record_table *t, long lease_ms, ddb_error *err)
{
    lease_set *l = calloc(1, sizeof *l);
    if (!l) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the leases");
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->ticked, NULL);
    l->table = *t;
    l->lease_ms = lease_ms;
    l->beat_ms = lease_ms / 3 > 1 ? lease_ms / 3 : 1;
    l->tick_ms = l->beat_ms / 2 < 1000 ? (l->beat_ms / 2 > 1 ? l->beat_ms / 2 : 1) : 1000;   /* observe twice per beat */
    l->margin_ms = lease_ms / 10 < 200 ? lease_ms / 10 : 200;
    /* few attempts: a heartbeat that keeps failing must let the lease lapse, not block the thread */
    l->policy = (retry_policy){ 3, 25, 2.0, l->beat_ms / 2 > 25 ? l->beat_ms / 2 : 25 };
    l->rng = retry_seed(l);
    if (lease_make_owner(l) != 0) {
        ddb_error_set(err, "RandomError", 0, "getrandom failed: cannot make a lease owner id");
        goto fail;
    }
    /* a heartbeat answered after half a lease is of no use: give up on it sooner */
    ddb_config lease_cfg = *cfg;
    long cap = lease_ms / 2 > 1000 ? lease_ms / 2 : 1000;
    if (lease_cfg.request_timeout_ms > cap) lease_cfg.request_timeout_ms = cap;
    l->client = ddb_client_new(&lease_cfg, err);
    config_clear(&lease_cfg);
    if (!l->client || lease_protocol(l, err) != 0) goto fail;
    if (!(l->p = calloc((size_t)l->portions, sizeof *l->p))) {
        ddb_error_set(err, "OutOfMemory", 0, "out of memory starting the leases");
        goto fail;
    }
    for (int i = 0; i < l->portions; i++) l->p[i].pass_epoch = l->p[i].done_epoch = LEASE_NO_EPOCH;
    lease_plan *plan = malloc(sizeof *plan);
    if (plan) lease_round(l, plan);   /* register, observe, first takes */
    free(plan);
    if (pthread_create(&l->thread, NULL, lease_main, l) != 0) {
        ddb_error_set(err, "ThreadError", 0, "cannot start the lease thread");
        goto fail;
    }
    l->thread_started = 1;
    return l;
fail:
    lease_free(l);
    return NULL;
}

static void lease_join(lease_set *l)
{
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    pthread_cond_broadcast(&l->ticked);
    pthread_mutex_unlock(&l->lock);
    if (l->thread_started) pthread_join(l->thread, NULL);
    pthread_mutex_lock(&l->lock);
    l->thread_started = 0;
    pthread_mutex_unlock(&l->lock);
}

void lease_release_all(lease_set *l)
{
    if (!l) return;
    lease_join(l);
    for (int i = 0; i < l->portions; i++)
        if (l->p[i].held) lease_release(l, i);
    ddb_error err;
    json_t *req = json_pack("{s:s,s:o}", "TableName", l->table.table, "Key", lease_key(l->member_key));
    lease_send(l, "DeleteItem", req, NULL, &err);
}

void lease_stop(lease_set *l)
{
    if (!l) return;
    lease_release_all(l);
    lease_free(l);
}

void lease_abandon(lease_set *l)
{
    if (!l) return;
    lease_join(l);
    lease_free(l);
}
