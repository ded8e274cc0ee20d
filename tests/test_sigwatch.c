/* The signal watcher: signals reach the host's function on the watcher
 * thread, and stopping it consumes every signal still pending, SIGINT and
 * SIGTERM together included, so none kills the process when unblocked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include "sigwatch.h"

typedef struct seen {
    int sigs[8];
    int count;
    sem_t entered;      /* posted when the first signal reached the handler */
    sem_t release;      /* the handler waits for it on the first signal */
} seen;

static void on_signal(void *host, int sig)
{
    seen *s = host;
    if (s->count < 8)
        s->sigs[s->count] = sig;
    s->count++;
    if (s->count == 1) {
        sem_post(&s->entered);
        sem_wait(&s->release);
    }
}

static void delivers_signals_to_the_host(void **state)
{
    (void)state;
    seen s = { .count = 0 };
    sem_init(&s.entered, 0, 0);
    sem_init(&s.release, 0, 1);   /* the handler does not wait */
    sigwatch *w = sigwatch_start(on_signal, &s);
    assert_non_null(w);
    kill(getpid(), SIGTERM);
    sem_wait(&s.entered);
    assert_int_equal(0, sigwatch_stop(w));
    assert_int_equal(1, s.count);
    assert_int_equal(SIGTERM, s.sigs[0]);
    sem_destroy(&s.entered);
    sem_destroy(&s.release);
}

static void both_pending_signals_are_consumed(void **state)
{
    (void)state;
    seen s = { .count = 0 };
    sem_init(&s.entered, 0, 0);
    sem_init(&s.release, 0, 0);
    sigwatch *w = sigwatch_start(on_signal, &s);
    assert_non_null(w);
    kill(getpid(), SIGINT);
    sem_wait(&s.entered);            /* the watcher is busy in the handler: these two stay pending */
    kill(getpid(), SIGTERM);
    kill(getpid(), SIGINT);
    sigset_t pending;
    sigpending(&pending);
    assert_true(sigismember(&pending, SIGINT));
    assert_true(sigismember(&pending, SIGTERM));
    sem_post(&s.release);
    int late = sigwatch_stop(w);     /* unblocks the signals: a pending one would kill this test */
    int consumed = (s.count - 1) + (late != 0);
    assert_true(consumed >= 1);
    assert_int_equal(SIGINT, s.sigs[0]);
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGINT));
    assert_false(sigismember(&pending, SIGTERM));
    sem_destroy(&s.entered);
    sem_destroy(&s.release);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delivers_signals_to_the_host),
        cmocka_unit_test(both_pending_signals_are_consumed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
