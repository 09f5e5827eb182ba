/* A process whose main thread calls pthread_exit while a worker thread runs:
 * its leader shows Z in /proc/PID/stat (ps: "Zl ... <defunct>") though the
 * process is alive. With an address and a port, main listens there first and
 * the worker accepts: each client gets "hello\n" and is closed.
 *
 * It ends itself after 60 s (SIGALRM): test harnesses find their processes by
 * /proc/PID/environ and ip netns pids by /proc/PID/ns/net, and a zombie
 * leader has neither, so nothing else may be sure to stop it.
 *
 * usage: thread_leader [ADDR PORT]   (prints "ready" when it listens) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener = -1;

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    if (listener < 0) {
      pause();
      continue;
    }
    int c = accept(listener, NULL, NULL);
    if (c < 0) continue;
    ssize_t n = write(c, "hello\n", 6);
    (void)n;
    close(c);
  }
  return NULL;
}

static int listen_on(const char *addr, const char *port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 16)) return -1;
  return fd;
}

int main(int argc, char **argv) {
  if (argc == 3 && (listener = listen_on(argv[1], argv[2])) < 0) {
    perror("thread_leader: listen");
    return 1;
  }
  if (argc != 1 && argc != 3) {
    fprintf(stderr, "usage: thread_leader [ADDR PORT]\n");
    return 2;
  }
  alarm(60);
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0) return 1;
  puts("ready");
  fflush(stdout);
  pthread_exit(NULL); /* the leader becomes a zombie; the worker runs on */
}
