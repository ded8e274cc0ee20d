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

/* A report keeping 10 entries that writes to a new file made from template path. */
static void open_with_file(failures *f, char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    assert_int_equal(0, failures_init(f, 10, path, err, sizeof err));
}

static void keeps_at_most_max_and_counts_all(void **state)
{
    (void)state;
    char path[] = "/tmp/ddbrun_failures_XXXXXX";
    failures f;
    open_with_file(&f, path);
    char acct[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(acct, sizeof acct, "acct-%d", i);
        record_key key = { acct, strlen(acct), "2026-01-01T00:00:00Z", 20 };
        failures_add(&f, &key, "callback", "boom \"quoted\"\nsecond line ✓", 1);
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

/* DynamoDB keys may hold U+0000: the kept entry and the file line keep every byte. */
static void keys_with_a_nul_byte_are_kept_whole(void **state)
{
    (void)state;
    char path[] = "/tmp/ddbrun_failures_XXXXXX";
    failures f;
    open_with_file(&f, path);
    record_key key = { "ACC\0X", 5, "B\0", 2 };
    failures_add(&f, &key, "callback", "boom", 1);
    failure *list;
    size_t count;
    failures_take(&f, &list, &count);
    assert_int_equal(1, count);
    assert_int_equal(5, list[0].account_id_len);
    assert_memory_equal("ACC\0X", list[0].account_id, 5);
    assert_int_equal(2, list[0].run_time_len);
    assert_memory_equal("B\0", list[0].run_time, 2);
    failure_free_list(list, count);
    failures_close(&f);

    FILE *in = fopen(path, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof line, in));
    fclose(in);
    unlink(path);
    json_error_t jerr;
    json_t *e = json_loads(line, JSON_ALLOW_NUL, &jerr);
    assert_non_null(e);
    assert_int_equal(5, json_string_length(json_object_get(e, "AccountId")));
    assert_memory_equal("ACC\0X", json_string_value(json_object_get(e, "AccountId")), 5);
    assert_int_equal(2, json_string_length(json_object_get(e, "RunTime")));
    json_decref(e);
}

/* A failure without a key (an item missing AccountId) is recorded with empty ones. */
static void a_missing_key_is_recorded_empty(void **state)
{
    (void)state;
    failures f;
    char err[256];
    assert_int_equal(0, failures_init(&f, 10, NULL, err, sizeof err));
    record_key key = { NULL, 0, "T", 1 };
    failures_add(&f, &key, "invalid", "no key", 0);
    failures_add(&f, NULL, "invalid", "no key", 0);
    failure *list;
    size_t count;
    failures_take(&f, &list, &count);
    assert_int_equal(2, count);
    assert_string_equal("", list[0].account_id);
    assert_string_equal("T", list[0].run_time);
    assert_string_equal("", list[1].run_time);
    failure_free_list(list, count);
    failures_close(&f);
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
        cmocka_unit_test(keys_with_a_nul_byte_are_kept_whole),
        cmocka_unit_test(a_missing_key_is_recorded_empty),
        cmocka_unit_test(an_unwritable_file_is_named),
    };
    return cmocka_run_group_tests_name("failures", tests, NULL, NULL);
}
