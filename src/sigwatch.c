#include "sigwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct sigwatch {
    sigwatch_fn on_signal;
    void *host;
    sigset_t signals;
    sigset_t old_mask;
    int signal_fd;          /* readable while a signal is pending */
    int quit[2];            /* a pipe: writing to quit[1] stops the watcher */
    pthread_t thread;
};

/* One pending signal, 0 when none is. */
static int sigwatch_read(sigwatch *w)
{
    struct signalfd_siginfo info;
    ssize_t n;
    do {
        n = read(w->signal_fd, &info, sizeof info);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

static void *sigwatch_main(void *arg)
{
    sigwatch *w = arg;
    struct pollfd fds[2] = { { w->signal_fd, POLLIN, 0 }, { w->quit[0], POLLIN, 0 } };
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents)
            break;
        int sig = sigwatch_read(w);
        if (sig > 0)
            w->on_signal(w->host, sig);
    }
    return NULL;
}

static void sigwatch_close(sigwatch *w)
{
    if (w->signal_fd >= 0)
        close(w->signal_fd);
    if (w->quit[0] >= 0)
        close(w->quit[0]);
    if (w->quit[1] >= 0)
        close(w->quit[1]);
    free(w);
}

sigwatch *sigwatch_start(sigwatch_fn on_signal, void *host)
{
    sigwatch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->on_signal = on_signal;
    w->host = host;
    w->signal_fd = -1;
    w->quit[0] = -1;
    w->quit[1] = -1;
    sigemptyset(&w->signals);
    sigaddset(&w->signals, SIGINT);
    sigaddset(&w->signals, SIGTERM);
    if (pipe(w->quit) != 0)
        goto fail;
    pthread_sigmask(SIG_BLOCK, &w->signals, &w->old_mask);
    w->signal_fd = signalfd(-1, &w->signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w->signal_fd < 0 || pthread_create(&w->thread, NULL, sigwatch_main, w) != 0)
        goto fail_unblock;
    return w;
fail_unblock:
    pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
fail:
    sigwatch_close(w);
    return NULL;
}

int sigwatch_stop(sigwatch *w)
{
    char byte = 1;
    while (write(w->quit[1], &byte, 1) < 0 && errno == EINTR) {}
    pthread_join(w->thread, NULL);
    int first = 0;
    int sig;
    while ((sig = sigwatch_read(w)) > 0) {
        if (!first)
            first = sig;
    }
    pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
    sigwatch_close(w);
    return first;
}
