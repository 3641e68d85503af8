/*
 * Minimal pod sandbox ("pause") process for the local test cluster: it holds the pod's
 * namespaces open, reaps orphaned children (it is PID 1 when the pod shares a PID namespace)
 * and exits on SIGINT/SIGTERM. Written for this repo after the behaviour of Kubernetes'
 * build/pause/linux/pause.c; compiled statically by test/cluster/build.sh.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAUSE_VERSION "3.10-azp1"

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  struct sigaction sa;

  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts("pause " PAUSE_VERSION);
    return 0;
  }
  if (getpid() != 1) {
    fprintf(stderr, "pause: warning: not running as PID 1\n");
  }

  memset(&sa, 0, sizeof(sa));
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
    return 1;
  }
  sa.sa_handler = on_child;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) {
    return 2;
  }

  for (;;) {
    pause();
  }
  return 42; /* not reached */
}
