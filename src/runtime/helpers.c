/* The helpers' process groups, in a fixed table a signal handler reads
 * without locks (a slot is written before it counts, as in foreground.c). */
#include "runtime/helpers.h"

#include <signal.h>
#include <string.h>

#include "runtime/foreground.h"

#define MAX_HELPERS 256 /* running at once; more are left to their own end */

static volatile pid_t helpers[MAX_HELPERS];

void cr_helpers_add(pid_t pid) {
  for (int i = 0; i < MAX_HELPERS; i++) {
    if (helpers[i] == 0) {
      helpers[i] = pid;
      return;
    }
  }
}

void cr_helpers_remove(pid_t pid) {
  for (int i = 0; i < MAX_HELPERS; i++) {
    if (pid > 0 && helpers[i] == pid) {
      helpers[i] = 0;
      return;
    }
  }
}

static void on_termination(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  if (cr_foreground_forward(sig, si)) return; /* a command on our terminal decides */
  for (int i = 0; i < MAX_HELPERS; i++) {
    pid_t pid = helpers[i];
    if (pid > 0) kill(-pid, SIGTERM);
  }
  signal(sig, SIG_DFL);
  raise(sig); /* delivered when this handler returns: we end by it */
}

void cr_helpers_catch_termination(void) {
  static const int caught[] = {SIGTERM, SIGHUP};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_termination;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO;
  for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) {
    struct sigaction old;
    if (sigaction(caught[i], NULL, &old) != 0) continue;
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN) continue; /* nohup means it */
    sigaction(caught[i], &sa, NULL);
  }
}
