/* For the unit tests that talk to the DynamoDB Local tests/run.sh started
 * (DDB_TEST_ENDPOINT): the config from the environment, its credential
 * registry and an admin client, or a skipped test when there is no server.
 * Include after cmocka.h. */
#ifndef DDBRUN_TESTS_LIVE_H
#define DDBRUN_TESTS_LIVE_H

#include <stdlib.h>

#include "client.h"
#include "config.h"
#include "creds.h"

typedef struct live {
    ddb_config cfg;
    creds_registry *creds;
    ddb_client *admin;        /* for set-up, checks and clean-up */
} live;

static inline void live_open(live *l)
{
    if (!getenv("DDB_TEST_ENDPOINT")) skip();
    char msg[512];
    ddb_error err;
    l->creds = creds_registry_new();
    assert_non_null(l->creds);
    assert_int_equal(0, config_from_env(&l->cfg, l->creds, msg, sizeof msg));
    l->admin = ddb_client_new(&l->cfg, &err);
    assert_non_null(l->admin);
}

/* Call once every client built from l->cfg is freed. */
static inline void live_close(live *l)
{
    ddb_client_free(l->admin);
    config_clear(&l->cfg);
    creds_registry_free(l->creds);
}

#endif
