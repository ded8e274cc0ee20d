/* libFuzzer target: the input as a .env file for dotenv_parse. Every key and
 * value handed to the callback must be a terminated C string (ASan checks the
 * reads), keys must be [A-Za-z_][A-Za-z0-9_]*, an error must start with the
 * file name, and a callback that stops parsing must leave err untouched.
 * Also included by tests/test_fuzz_regressions.c, hence the fd_ prefix. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

/* A name with conversions in it: a filename used as a format would show. */
#define FD_FILENAME "dir/%s%n%d.env"
#define FD_UNTOUCHED "untouched"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    int calls;
    int stop_on_stop;  /* return non-zero for the key STOP */
    int stopped;
} fd_state;

static int fd_key_char(char c, int first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

static int fd_callback(void *ud, const char *key, const char *value)
{
    fd_state *st = ud;
    size_t klen = strlen(key);
    volatile size_t vlen = strlen(value);

    (void)vlen;
    st->calls++;
    if (klen == 0) {
        fprintf(stderr, "fuzz_dotenv: empty key\n");
        abort();
    }
    for (size_t i = 0; i < klen; i++) {
        if (!fd_key_char(key[i], i == 0)) {
            fprintf(stderr, "fuzz_dotenv: key \"%s\" has byte 0x%02x at %zu\n", key, (unsigned char)key[i], i);
            abort();
        }
    }
    if (st->stop_on_stop && strcmp(key, "STOP") == 0) {
        st->stopped = 1;
        return 1;
    }
    return 0;
}

/* One parse with an err buffer of exactly errlen bytes (0: none at all). */
static void fd_parse(const uint8_t *data, size_t size, size_t errlen, int stop_on_stop)
{
    const size_t fnlen = strlen(FD_FILENAME);
    char *err = malloc(errlen ? errlen : 1);
    fd_state st = {0, stop_on_stop, 0};
    int rc;

    if (!err) abort();
    if (errlen) snprintf(err, errlen, "%s", FD_UNTOUCHED);
    rc = dotenv_parse((const char *)data, size, FD_FILENAME, fd_callback, &st, errlen ? err : NULL, errlen);
    if (rc != 0 && rc != -1) {
        fprintf(stderr, "fuzz_dotenv: dotenv_parse returned %d\n", rc);
        abort();
    }
    if (st.stopped && (rc != -1 || (errlen && strncmp(err, FD_UNTOUCHED, errlen - 1) != 0))) {
        fprintf(stderr, "fuzz_dotenv: a stopping callback gave rc %d, err \"%.*s\"\n", rc, (int)errlen, err);
        abort();
    }
    if (rc == -1 && !st.stopped && errlen) {
        size_t want = fnlen + 1 < errlen - 1 ? fnlen + 1 : errlen - 1;  /* "FILE:" as far as it fits */
        if (!memchr(err, '\0', errlen) || strncmp(err, FD_FILENAME ":", want) != 0) {
            fprintf(stderr, "fuzz_dotenv: error \"%.*s\" does not start with the file name\n", (int)errlen, err);
            abort();
        }
    }
    if (rc == 0 && errlen && strncmp(err, FD_UNTOUCHED, errlen - 1) != 0) {
        fprintf(stderr, "fuzz_dotenv: success but err is \"%.*s\"\n", (int)errlen, err);
        abort();
    }
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fd_parse(data, size, 512, 0);
    fd_parse(data, size, 512, 1);
    fd_parse(data, size, 1 + size % 24, 0);
    return 0;
}
