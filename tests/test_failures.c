/* The bounded failure report: entries kept up to max, every failure counted
 * and appended to the errors file as one JSON line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "failures.h"

static void keeps_at_most_max_and_counts_all(void **state)
{
    (void)state;
    char path[] = "/tmp/ddbrun_failures_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    failures f;
    char err[256];
    assert_int_equal(0, failures_init(&f, 10, path, err, sizeof err));
    char acct[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(acct, sizeof acct, "acct-%d", i);
        failures_add(&f, acct, "2026-01-01T00:00:00Z", "callback", "boom \"quoted\"\nsecond line ✓", 1);
    }
    assert_int_equal(5000, f.total);
    failure *list;
    size_t count;
    failures_take(&f, &list, &count);
    assert_int_equal(10, count);
    assert_string_equal("acct-9", list[9].account_id);
    assert_string_equal("callback", list[9].kind);
    failure_free_list(list, count);
    failures_close(&f);

    FILE *in = fopen(path, "r");
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, in)) {
        json_error_t jerr;
        json_t *e = json_loads(line, 0, &jerr);
        assert_non_null(e);
        if (lines == 4999) {
            assert_string_equal("acct-4999", json_string_value(json_object_get(e, "AccountId")));
            assert_string_equal("2026-01-01T00:00:00Z", json_string_value(json_object_get(e, "RunTime")));
            assert_string_equal("boom \"quoted\"\nsecond line ✓", json_string_value(json_object_get(e, "error")));
            assert_int_equal(1, json_integer_value(json_object_get(e, "attempts")));
        }
        json_decref(e);
        lines++;
    }
    fclose(in);
    unlink(path);
    assert_int_equal(5000, lines);
}

static void an_unwritable_file_is_named(void **state)
{
    (void)state;
    failures f;
    char err[256];
    assert_int_equal(-1, failures_init(&f, 10, "/nonexistent-dir/errors.jsonl", err, sizeof err));
    assert_string_equal("errors_file /nonexistent-dir/errors.jsonl: No such file or directory", err);
    failures_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keeps_at_most_max_and_counts_all),
        cmocka_unit_test(an_unwritable_file_is_named),
    };
    return cmocka_run_group_tests_name("failures", tests, NULL, NULL);
}
