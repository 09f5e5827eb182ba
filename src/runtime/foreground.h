/* Children in the foreground: a command run on connrecipe's own terminal
 * (cr.exec{inherit = true}) gets the termination signals sent to connrecipe,
 * which waits for it to end instead of dying first and leaving it running. */
#ifndef CONNRECIPE_RUNTIME_FOREGROUND_H
#define CONNRECIPE_RUNTIME_FOREGROUND_H

#include <signal.h>
#include <sys/types.h>

/* Registers a child started on our terminal; while any is registered,
 * SIGTERM, SIGHUP and SIGQUIT are forwarded to it (SIGINT through
 * cr_foreground_forward, called by the runtime's Ctrl-C handler). */
void cr_foreground_add(pid_t pid);
/* Unregisters it once it has ended (or been killed); the last one out
 * restores the signal dispositions found when the first came in. */
void cr_foreground_remove(pid_t pid);

/* From a signal handler: passes sig on to every foreground child and returns
 * 1, or returns 0 when there is none. A signal the kernel generated (Ctrl-C on
 * the terminal) already reached them, as they share our process group: it is
 * not sent twice. Async-signal-safe. */
int cr_foreground_forward(int sig, const siginfo_t *si);

/* Before replacing the process (execvp): the dispositions of before the first
 * child came in. */
void cr_foreground_restore(void);
/* After a failed exec: forwarding again, if children are registered. */
void cr_foreground_resume(void);

#endif
