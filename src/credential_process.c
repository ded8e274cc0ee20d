#include "credential_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define CREDENTIAL_PROCESS_MAX_OUTPUT (64 * 1024)

extern char **environ;

/* Milliseconds left before deadline_ms (0 when past), for poll. */
static int credential_process_left(long long deadline_ms)
{
    long long left = deadline_ms - creds_monotonic_ms();
    return left > 0 ? (int)(left < 60000 ? left : 60000) : 0;
}

/* Reads all of fd (up to the limit) into buf before deadline_ms; returns the
 * length, -1 on a read error or too much output, -2 when the time ran out. */
static long credential_process_read(int fd, char *buf, size_t size, long long deadline_ms)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, credential_process_left(deadline_ms));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return -1;
        if (ready == 0) return -2;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        len += (size_t)n;
        if (len == size - 1) return -1;
    }
    buf[len] = '\0';
    return (long)len;
}

/* Waits for pid until deadline_ms (it closed its stdout but may linger);
 * returns 0 with *status, or -2 when the time ran out. */
static int credential_process_wait(pid_t pid, int *status, long long deadline_ms)
{
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid) return 0;
        if (got < 0 && errno != EINTR) return 0;
        if (credential_process_left(deadline_ms) == 0) return -2;
        poll(NULL, 0, 20);   /* no fd to wait on for a child's exit */
    }
}

/* Runs command with stdout into a pipe; returns 0 with the output and exit
 * status, or with *len = -2 when it was killed after timeout_s. */
static int credential_process_run(const char *command, long timeout_s, char *out, size_t size, long *len,
                                  int *status, char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);   /* its own group: a timeout kills all it started */
    posix_spawnattr_setpgroup(&attr, 0);
    char *argv[] = { "sh", "-c", (char *)command, NULL };
    pid_t pid;
    long long deadline_ms = creds_monotonic_ms() + timeout_s * 1000;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(err, errlen, "cannot start: %s", strerror(rc));
        return -1;
    }
    *len = credential_process_read(fds[0], out, size, deadline_ms);
    close(fds[0]);
    if (*len == -2 || credential_process_wait(pid, status, deadline_ms) != 0) {
        *len = -2;
        kill(-pid, SIGKILL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    }
    return 0;
}

static int credential_process_parse(const char *text, size_t len, creds_value *out, char *err, size_t errlen)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    char why[200];
    int rc = -1;
    if (!json_is_object(doc))
        snprintf(err, errlen, "its output is not a JSON object");
    else if (json_integer_value(json_object_get(doc, "Version")) != 1)
        snprintf(err, errlen, "its output has no \"Version\": 1");
    else if (creds_from_json(doc, "SessionToken", out, why, sizeof why) != 0)
        snprintf(err, errlen, "its output is not usable: %s", why);
    else
        rc = 0;
    json_decref(doc);
    return rc;
}

int credential_process_fetch(const char *command, long timeout_s, creds_value *out, char *err, size_t errlen)
{
    char *buf = malloc(CREDENTIAL_PROCESS_MAX_OUTPUT);
    char why[300];
    long len = 0;
    int status = 0, rc = -1;
    if (!buf) {
        snprintf(err, errlen, "credential_process `%s`: out of memory", command);
        return -1;
    }
    if (credential_process_run(command, timeout_s, buf, CREDENTIAL_PROCESS_MAX_OUTPUT, &len, &status, why, sizeof why) != 0)
        snprintf(err, errlen, "credential_process `%s`: %s", command, why);
    else if (len == -2)
        snprintf(err, errlen, "credential_process `%s`: timed out after %ld s", command, timeout_s);
    else if (WIFSIGNALED(status))
        snprintf(err, errlen, "credential_process `%s`: killed by signal %d", command, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        snprintf(err, errlen, "credential_process `%s`: exited with status %d", command, WEXITSTATUS(status));
    else if (len < 0)
        snprintf(err, errlen, "credential_process `%s`: its output could not be read or is over 64 KB", command);
    else if (credential_process_parse(buf, (size_t)len, out, why, sizeof why) != 0)
        snprintf(err, errlen, "credential_process `%s`: %s", command, why);
    else
        rc = 0;
    OPENSSL_cleanse(buf, CREDENTIAL_PROCESS_MAX_OUTPUT);
    free(buf);
    return rc;
}
