/* Runs each libFuzzer target (tests/fuzz/fuzz_*.c) over every file in
 * tests/fuzz/regressions/NAME/: inputs that once crashed, plus the seeds. A
 * target aborts on a broken property; the SIGABRT handler then names the
 * input on stderr. Built like the other units (gcc,
 * libddbrun.a); the targets are included with LLVMFuzzerTestOneInput renamed. */
#include <dirent.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define LLVMFuzzerTestOneInput fuzz_response_one
#include "fuzz/fuzz_response.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_marshal_one
#include "fuzz/fuzz_marshal.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_dotenv_one
#include "fuzz/fuzz_dotenv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sigv4_one
#include "fuzz/fuzz_sigv4.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sts_one
#include "fuzz/fuzz_sts.c"
#undef LLVMFuzzerTestOneInput

/* Relative to the repository root, where tests/run.sh runs the units. */
#define REGRESSIONS_DIR "tests/fuzz/regressions"

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

static char current_input[512];

static void name_input_on_abort(int sig)
{
    static const char msg[] = "test_fuzz_regressions: aborted on input ";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, current_input, strlen(current_input)) < 0 ||
        write(2, "\n", 1) < 0) {
        /* nothing more to do */
    }
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

/* Reads path into a buffer of exactly its size (a read past the end is caught by ASan/valgrind). */
static uint8_t *read_input(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n = -1;

    if (!f) fail_msg("cannot open %s", path);
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        fail_msg("cannot size %s", path);
    buf = malloc(n ? (size_t)n : 1);
    assert_non_null(buf);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) fail_msg("cannot read %s", path);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void run_dir(const char *name, fuzz_fn fn)
{
    char dir[256];
    DIR *d;
    struct dirent *e;
    int count = 0;

    snprintf(dir, sizeof dir, "%s/%s", REGRESSIONS_DIR, name);
    d = opendir(dir);
    if (!d) fail_msg("cannot open %s (run from the repository root)", dir);
    while ((e = readdir(d))) {
        size_t size;
        uint8_t *data;
        if (e->d_name[0] == '.') continue;
        snprintf(current_input, sizeof current_input, "%s/%s", dir, e->d_name);
        data = read_input(current_input, &size);
        assert_int_equal(fn(data, size), 0);
        free(data);
        count++;
    }
    closedir(d);
    if (count == 0) fail_msg("%s is empty", dir);
}

static void test_response(void **state)
{
    (void)state;
    run_dir("response", fuzz_response_one);
}

static void test_marshal(void **state)
{
    (void)state;
    run_dir("marshal", fuzz_marshal_one);
}

static void test_dotenv(void **state)
{
    (void)state;
    run_dir("dotenv", fuzz_dotenv_one);
}

static void test_sigv4(void **state)
{
    (void)state;
    run_dir("sigv4", fuzz_sigv4_one);
}

static void test_sts(void **state)
{
    (void)state;
    run_dir("sts", fuzz_sts_one);
}

/* The targets keep one Lua state each for the whole process; close them so valgrind sees no leak. */
static int close_states(void **state)
{
    (void)state;
    if (fr_L) lua_close(fr_L), fr_L = NULL;
    if (fm_L) lua_close(fm_L), fm_L = NULL;
    return 0;
}

int main(void)
{
    signal(SIGABRT, name_input_on_abort);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_marshal),
        cmocka_unit_test(test_dotenv),
        cmocka_unit_test(test_sigv4),
        cmocka_unit_test(test_sts),
    };
    return cmocka_run_group_tests(tests, NULL, close_states);
}
