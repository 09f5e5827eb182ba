/* Commands connrecipe runs for itself (cr.exec without inherit: nft,
 * iptables-save, systemctl, a recipe's own): each in its own process group,
 * its output read by connrecipe. When connrecipe is terminated (SIGTERM,
 * SIGHUP: `timeout`, `kill`, a closed terminal) they are terminated with it
 * instead of running on, orphaned, with nobody to read them. */
#ifndef CONNRECIPE_RUNTIME_HELPERS_H
#define CONNRECIPE_RUNTIME_HELPERS_H

#include <sys/types.h>

/* Registers a running helper (the leader of its own process group). */
void cr_helpers_add(pid_t pid);
/* Unregisters it once it has ended or been killed. */
void cr_helpers_remove(pid_t pid);

/* The executable's choice: SIGTERM and SIGHUP send SIGTERM to every
 * registered helper's process group, then end connrecipe by that signal, as
 * its default action would (a foreground child still gets them first: see
 * foreground.h). */
void cr_helpers_catch_termination(void);

#endif
