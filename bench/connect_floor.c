/* The floor for a connect scan on one core: a plain blocking
 * socket()/connect()/close() loop over ports lo..hi of an IPv4 address.
 * Usage: connect_floor [ADDR [LO [HI]]]   (default 127.0.0.1 1 65535)
 * Prints the open ports and a summary line on stderr. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  const char *addr = argc > 1 ? argv[1] : "127.0.0.1";
  int lo = argc > 2 ? atoi(argv[2]) : 1, hi = argc > 3 ? atoi(argv[3]) : 65535;
  struct sockaddr_in a = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
    fprintf(stderr, "connect_floor: bad IPv4 address %s\n", addr);
    return 2;
  }
  int open = 0;
  for (int port = lo; port <= hi; port++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      perror("socket");
      return 1;
    }
    a.sin_port = htons((unsigned short)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      printf("%d\n", port);
      open++;
    }
    close(fd);
  }
  fprintf(stderr, "connect_floor: %d ports, %d open\n", hi - lo + 1, open);
  return 0;
}
