/* The C client used from several threads at once, without any Lua state:
 * each thread builds its own client from one shared config and writes and
 * reads its own items on the DynamoDB Local that tests/run.sh started. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "live.h"

#define THREADS 4
#define ITEMS 150

typedef struct job {
    const ddb_config *cfg;
    const char *table;
    int thread, ok;
    char error[1200];
} job;

static int put_and_get(ddb_client *c, job *j, int i)
{
    char id[64], value[64];
    snprintf(id, sizeof id, "t%d-%d", j->thread, i);
    snprintf(value, sizeof value, "value %d of thread %d ✓", i, j->thread);
    json_t *put = json_pack("{s:s,s:{s:{s:s},s:{s:s}}}", "TableName", j->table, "Item", "id", "S", id, "v", "S", value);
    json_t *get = json_pack("{s:s,s:{s:{s:s}},s:b}", "TableName", j->table, "Key", "id", "S", id, "ConsistentRead", 1);
    json_t *out = NULL;
    ddb_error err;
    int rc = ddb_client_call_json(c, "PutItem", put, NULL, NULL, &err) == 0 &&
             ddb_client_call_json(c, "GetItem", get, NULL, &out, &err) == 0 ? 0 : -1;
    if (rc != 0) snprintf(j->error, sizeof j->error, "%s: %s", err.code, err.message);
    const char *got = json_string_value(json_object_get(json_object_get(json_object_get(out, "Item"), "v"), "S"));
    if (rc == 0 && (!got || strcmp(got, value) != 0)) {
        snprintf(j->error, sizeof j->error, "item %s read back as %s", id, got ? got : "(missing)");
        rc = -1;
    }
    json_decref(put);
    json_decref(get);
    json_decref(out);
    return rc;
}

static void *run_job(void *arg)
{
    job *j = arg;
    ddb_error err;
    ddb_client *c = ddb_client_new(j->cfg, &err);
    if (!c) {
        snprintf(j->error, sizeof j->error, "%s", err.message);
        return NULL;
    }
    for (int i = 0; i < ITEMS && put_and_get(c, j, i) == 0; i++) j->ok++;
    ddb_client_free(c);
    return NULL;
}

static void threads_share_a_config_not_a_client(void **state)
{
    (void)state;
    live l;
    live_open(&l);
    ddb_client *admin = l.admin;
    ddb_error err;
    char table[64];
    snprintf(table, sizeof table, "cthreads_%ld_%d", (long)time(NULL), (int)getpid());
    json_t *create = json_pack("{s:s,s:s,s:[{s:s,s:s}],s:[{s:s,s:s}]}", "TableName", table, "BillingMode", "PAY_PER_REQUEST",
                               "AttributeDefinitions", "AttributeName", "id", "AttributeType", "S",
                               "KeySchema", "AttributeName", "id", "KeyType", "HASH");
    int created = ddb_client_call_json(admin, "CreateTable", create, NULL, NULL, &err);
    if (created != 0)
        print_error("CreateTable: %s: %s\n", err.code, err.message);
    assert_int_equal(0, created);
    json_decref(create);

    job jobs[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job){ &l.cfg, table, t, 0, "" };
        assert_int_equal(0, pthread_create(&threads[t], NULL, run_job, &jobs[t]));
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);

    json_t *count_req = json_pack("{s:s,s:s,s:b}", "TableName", table, "Select", "COUNT", "ConsistentRead", 1);
    json_t *count = NULL;
    assert_int_equal(0, ddb_client_call_json(admin, "Scan", count_req, NULL, &count, &err));
    json_t *drop = json_pack("{s:s}", "TableName", table);
    ddb_client_call_json(admin, "DeleteTable", drop, NULL, NULL, &err);
    long items = (long)json_integer_value(json_object_get(count, "Count"));
    json_decref(count_req);
    json_decref(count);
    json_decref(drop);
    live_close(&l);   /* every thread joined, every client freed */
    for (int t = 0; t < THREADS; t++) {
        if (jobs[t].error[0]) print_error("thread %d: %s\n", t, jobs[t].error);
        assert_int_equal(ITEMS, jobs[t].ok);
    }
    assert_int_equal(THREADS * ITEMS, items);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_share_a_config_not_a_client),
    };
    int failed = cmocka_run_group_tests_name("client_threads", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
