/* SIGINT and SIGTERM for a host that runs threads: the signals are blocked in
 * every thread and a watcher thread hands each one to the host's function,
 * so no signal handler runs and the engine never sees a signal. No Lua. */
#ifndef DDBRUN_SIGWATCH_H
#define DDBRUN_SIGWATCH_H

/* Called on the watcher thread once per signal, in arrival order. */
typedef void (*sigwatch_fn)(void *host, int sig);

typedef struct sigwatch sigwatch;

/* Blocks SIGINT and SIGTERM in the calling thread (threads it starts
 * afterwards inherit the mask) and starts the watcher. Call it before
 * starting the threads that must not take the signals. Returns NULL (mask
 * unchanged) when out of resources. */
sigwatch *sigwatch_start(sigwatch_fn on_signal, void *host);

/* Stops and joins the watcher, consumes every SIGINT/SIGTERM still pending
 * (both, when both are) so that none kills the process when unblocked,
 * restores the mask and frees w. Returns the first signal consumed here, 0
 * when none was pending. Call it on the thread that called sigwatch_start. */
int sigwatch_stop(sigwatch *w);

#endif
