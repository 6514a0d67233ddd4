/*
 * Row 1c of `deno task bench`: the most runs a second of a script this machine can do, with no
 * server in the way. PROCS processes each start `/bin/sh SCRIPT` with stdin read from STDIN (a file,
 * or /dev/null) and stdout to /dev/null, wait for it, and start the next, for SECONDS.
 *
 * usage: spawn_ceiling SCRIPT STDIN SECONDS PROCS   (prints the total runs per second)
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: spawn_ceiling SCRIPT STDIN SECONDS PROCS\n");
    return 2;
  }
  char *script = argv[1], *input = argv[2];
  double secs = atof(argv[3]);
  int procs = atoi(argv[4]);
  int out[2];
  if (procs < 1 || procs > 64 || secs <= 0 || pipe(out) != 0) return 2;
  for (int p = 0; p < procs; p++) {
    if (fork() != 0) continue;
    long runs = 0;
    char *args[] = {"/bin/sh", script, NULL};
    for (double end = now() + secs; now() < end; runs++) {
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 0, input, O_RDONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
      pid_t pid;
      int status;
      if (posix_spawn(&pid, "/bin/sh", &fa, NULL, args, environ) != 0) _exit(1);
      waitpid(pid, &status, 0);
      posix_spawn_file_actions_destroy(&fa);
    }
    if (write(out[1], &runs, sizeof runs) != sizeof runs) _exit(1);
    _exit(0);
  }
  long total = 0;
  for (int p = 0; p < procs; p++) {
    long runs = 0;
    if (read(out[0], &runs, sizeof runs) != sizeof runs) return 1;
    total += runs;
    wait(NULL);
  }
  printf("%.0f\n", total / secs);
  return 0;
}
