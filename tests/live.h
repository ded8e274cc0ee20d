/* For the unit tests that talk to the DynamoDB Local tests/run.sh started
 * (DDB_TEST_ENDPOINT): the config from the environment, its credential
 * registry and an admin client, or a skipped test when there is no server.
 * Include after cmocka.h. */
#ifndef DDBRUN_TESTS_LIVE_H
#define DDBRUN_TESTS_LIVE_H

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "creds.h"

typedef struct live {
    ddb_config cfg;
    creds_registry *creds;
    ddb_client *admin;        /* for set-up, checks and clean-up */
} live;

/* For a fixture's set-up: 0, or -1 with l left for live_close. */
static inline int live_init(live *l)
{
    char msg[512];
    ddb_error err;
    memset(l, 0, sizeof *l);
    if (!(l->creds = creds_registry_new()) || config_from_env(&l->cfg, l->creds, msg, sizeof msg) != 0)
        return -1;
    l->admin = ddb_client_new(&l->cfg, &err);
    return l->admin ? 0 : -1;
}

/* For a test: skipped without a server, failed when it cannot connect. */
static inline void live_open(live *l)
{
    if (!getenv("DDB_TEST_ENDPOINT")) skip();
    assert_int_equal(0, live_init(l));
}

/* Call once every client built from l->cfg is freed. */
static inline void live_close(live *l)
{
    ddb_client_free(l->admin);
    config_clear(&l->cfg);
    creds_registry_free(l->creds);
}

#endif
