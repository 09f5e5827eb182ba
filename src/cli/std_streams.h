/* The standard streams of the executable: made safe at start, checked at exit. */
#ifndef CONNRECIPE_CLI_STD_STREAMS_H
#define CONNRECIPE_CLI_STD_STREAMS_H

/* Opens /dev/null on each of fds 0, 1 and 2 that is closed (`<&-`, `>&-`,
 * `2>&-`). Call first thing in main, before anything opens a file. Returns 0,
 * or -1 when /dev/null cannot be opened. */
int std_streams_reopen_closed(void);

/* Makes a failed write to standard output fail the run: at exit (however the
 * program exits: main returning, os.exit), if a write to stdout failed or the
 * final flush fails, prints one line to stderr and exits with `status`. A
 * reader that went away (`| head -1`, EPIPE) is not a failure: the exit
 * status stays the run's. Returns 0, or -1 when it cannot be registered. */
int std_streams_check_at_exit(int status);

/* fflush(stdout), keeping the reason of a failure for the line at exit
 * (stdio keeps only an error flag). */
void std_streams_flush_stdout(void);

#endif
