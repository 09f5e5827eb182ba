/* Forwarding termination signals to the children running on our terminal.
 * The pids sit in a small fixed table that the handler reads without locks:
 * a slot is written before it is published through `used`. */
#include "runtime/foreground.h"

#include <string.h>

#define MAX_FOREGROUND 16 /* children on the terminal at once; more are not forwarded to */

static volatile pid_t children[MAX_FOREGROUND];
static volatile sig_atomic_t count;

/* SIGINT is the runtime's own handler's (it calls cr_foreground_forward). */
static const int forwarded[] = {SIGTERM, SIGHUP, SIGQUIT};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])
static struct sigaction saved[NFORWARDED];
static int installed;

int cr_foreground_forward(int sig, const siginfo_t *si) {
  if (count == 0) return 0;
  if (si && si->si_code == SI_KERNEL) return 1; /* the terminal sent it to the whole group */
  for (int i = 0; i < MAX_FOREGROUND; i++) {
    pid_t pid = children[i];
    if (pid > 0) kill(pid, sig);
  }
  return 1;
}

static void on_signal(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  cr_foreground_forward(sig, si);
}

static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  for (size_t i = 0; i < NFORWARDED; i++) {
    sigaction(forwarded[i], &sa, &saved[i]);
    if (!(saved[i].sa_flags & SA_SIGINFO) && saved[i].sa_handler == SIG_IGN)
      sigaction(forwarded[i], &saved[i], NULL); /* ignored (nohup): the child ignores it too */
  }
  installed = 1;
}

void cr_foreground_restore(void) {
  if (!installed) return;
  for (size_t i = 0; i < NFORWARDED; i++)
    sigaction(forwarded[i], &saved[i], NULL);
  installed = 0;
}

void cr_foreground_add(pid_t pid) {
  for (int i = 0; i < MAX_FOREGROUND; i++) {
    if (children[i] == 0) {
      children[i] = pid;
      if (count++ == 0) install();
      return;
    }
  }
}

void cr_foreground_remove(pid_t pid) {
  for (int i = 0; i < MAX_FOREGROUND; i++) {
    if (pid > 0 && children[i] == pid) {
      children[i] = 0;
      if (--count == 0) cr_foreground_restore();
      return;
    }
  }
}

void cr_foreground_resume(void) {
  if (count > 0 && !installed) install();
}
