// Paired CPU cost of starting processes: child-cost ROUNDS JOB_FILE VARIANT [-- VARIANT]...
// A VARIANT is [NAME=VALUE]... PATH ARG...: environment entries added to this program's, then the command.
// Each round starts every variant once, in an order that rotates, with JOB_FILE on fd 3 and /dev/null on fd 4
// and 1, and takes its user + system CPU from wait4. Prints each variant's mean and its difference from the
// first one's, paired by round, with two standard errors: a slow drift of the machine cancels out.
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

#define MAX_VARIANTS 16

struct variant {
  char **argv;
  char **envp;
  const char *label;
};

static double cpu_ms(const struct rusage *ru) {
  return ru->ru_utime.tv_sec * 1e3 + ru->ru_utime.tv_usec / 1e3 + ru->ru_stime.tv_sec * 1e3 + ru->ru_stime.tv_usec / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: child-cost ROUNDS JOB_FILE [NAME=VALUE]... PATH ARG... [-- ...]\n");
    return 2;
  }
  int rounds = atoi(argv[1]);
  const char *job = argv[2];
  size_t n_environ = 0;
  while (environ[n_environ]) n_environ++;

  struct variant vs[MAX_VARIANTS];
  int nv = 0;
  for (int i = 3; i < argc && nv < MAX_VARIANTS; nv++) {
    int start = i;
    while (i < argc && strcmp(argv[i], "--") != 0) i++;
    if (i < argc) argv[i++] = NULL; // ends this variant's argv
    int k = start;
    char **envp = calloc(n_environ + (i - start) + 1, sizeof(char *));
    size_t e = 0;
    for (; k < argc && argv[k] && strchr(argv[k], '=') && argv[k][0] != '/'; k++) envp[e++] = argv[k];
    for (size_t j = 0; j < n_environ; j++) envp[e++] = environ[j];
    vs[nv].envp = envp;
    vs[nv].argv = &argv[k];
    vs[nv].label = start == k ? argv[k] : argv[start];
  }

  double *t = calloc((size_t)nv * rounds, sizeof(double));
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < nv; k++) {
      int v = (k + r) % nv;
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 3, job, O_RDONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 4, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
      pid_t pid;
      int err = posix_spawn(&pid, vs[v].argv[0], &fa, NULL, vs[v].argv, vs[v].envp);
      posix_spawn_file_actions_destroy(&fa);
      if (err) {
        fprintf(stderr, "cannot start %s: %s\n", vs[v].argv[0], strerror(err));
        return 1;
      }
      int status;
      struct rusage ru;
      wait4(pid, &status, 0, &ru);
      if (WIFEXITED(status) && WEXITSTATUS(status) != 0) fprintf(stderr, "%s exited %d\n", vs[v].label, WEXITSTATUS(status));
      t[v * rounds + r] = cpu_ms(&ru);
    }
  }
  for (int v = 0; v < nv; v++) {
    double sum = 0, d_sum = 0, d_sq = 0;
    for (int r = 0; r < rounds; r++) {
      double d = t[v * rounds + r] - t[r];
      sum += t[v * rounds + r];
      d_sum += d;
      d_sq += d * d;
    }
    double mean_d = d_sum / rounds;
    double se = sqrt(fmax(0, d_sq / rounds - mean_d * mean_d) / rounds);
    printf("%d\t%.2f\t%+.2f\t%.2f\n", v, sum / rounds, mean_d, 2 * se);
  }
  return 0;
}
