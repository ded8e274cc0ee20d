/* faultproxy's constant-latency mode (fp_latency.c), kept apart from the
 * HTTP fault modes: it relays TCP bytes and never parses them. */
#ifndef DDBRUN_FP_LATENCY_H
#define DDBRUN_FP_LATENCY_H

/* Runs `faultproxy latency ...` (argv[1] is "latency"); returns the exit code. */
int fp_latency_main(int argc, char **argv);

#endif
