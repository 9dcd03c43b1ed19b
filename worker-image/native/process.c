// process.node: the few process system calls fork mode needs and Node does not offer, and a spawn for
// spawn mode.
//
// The zygote (a Node process started with --single-threaded) calls fork() to make a copy-on-write
// child per job. Everything else about fork safety is done in JavaScript (src/fork/forked-child.ts); this
// file only does what JavaScript cannot. Built with the system C compiler against Node's headers
// by build.ts; N-API is ABI-stable, so headers from any Node >= 18 work for the Node that loads it.
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define MAX_POLL_FDS 4096

// What this build does, for src/process-addon.ts to refuse an older one: 2 = children lead process groups of
// their own, and spawned ones die with their parent; 3 = preloaded in the zygote, it gathers V8's heap and
// puts LD_PRELOAD back, and getpid(). Raised with any change the JavaScript side relies on.
#define ADDON_VERSION 3

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every architecture; older libc headers lack it
#endif

// errno's name ("EAGAIN" style, as Node's own errors have in `code`).
static const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
  const char *code = strerrorname_np(err);
#else
  // musl has no strerrorname_np; libuv's codes are negated errnos and it names the common ones.
  const char *code = uv_err_name(-err);
#endif
  return code != NULL ? code : "EIO";
}

// Throws a JavaScript Error named after errno.
static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, errno_name(err), message);
  return NULL;
}

static napi_value int_value(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

// Reads argument i as an int32; returns 0 and throws if it is not a number.
static int int_arg(napi_env env, napi_callback_info info, size_t i, int32_t *out) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (i >= argc || napi_get_value_int32(env, argv[i], out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an integer argument");
    return 0;
  }
  return 1;
}

// Reads the next line of /proc/self/maps into line (its head, if longer: the rest is skipped) and its
// address range into start/end; 0 at the end of the file.
static int next_mapping(FILE *maps, char *line, int size, unsigned long *start, unsigned long *end) {
  if (fgets(line, size, maps) == NULL) return 0;
  char *dash;
  *start = strtoul(line, &dash, 16);
  *end = *dash == '-' ? strtoul(dash + 1, NULL, 16) : 0;
  char rest[256];
  int more = strchr(line, '\n') == NULL;  // a line longer than the buffer continues on the next read
  while (more && fgets(rest, sizeof rest, maps) != NULL) more = strchr(rest, '\n') == NULL;
  return 1;
}

// V8 reserves its heap and code space with MADV_DONTFORK, so a child would get none of it and
// crash on its first JavaScript instruction. The heap grows between forks, so every mapping is
// marked again before each fork.
//
// Slow path: one madvise per line of /proc/self/maps (the kernel writes the whole text each time).
// Mappings that refuse (e.g. [vvar], which is VM_IO) are not heap: ignored.
static void mark_each_mapping_doforks(void) {
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) return;
  char line[512];
  unsigned long start, end;
  while (next_mapping(maps, line, sizeof line, &start, &end)) {
    if (end > start) madvise((void *)start, end - start, MADV_DOFORK);
  }
  fclose(maps);
}

// Fast path: madvise over whole address ranges. Linux applies the advice to every mapping in the
// range and reports the unmapped gaps with ENOMEM at the end; it stops at a mapping that refuses
// (EINVAL). Those ([vvar], [vvar_vclock], [vdso]: placed once at exec) are found once in
// /proc/self/maps and left out; the ranges are the gaps between them, up to the top of user space.
// Any other EINVAL turns the fast path off for good.
#define MAX_RANGES 8  // special mappings looked for; the ranges are one more
static unsigned long range_start[MAX_RANGES + 1], range_end[MAX_RANGES + 1];
static int ranges = -1;  // -1: not looked yet; 0: fast path off

static void find_ranges(void) {
  ranges = 0;
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) return;
  unsigned long special_start[MAX_RANGES], special_end[MAX_RANGES], top = 0;
  int specials = 0, ok = 1;
  char line[512];
  unsigned long start, end;
  while (next_mapping(maps, line, sizeof line, &start, &end)) {
    if (strstr(line, "[vvar") != NULL || strstr(line, "[vdso]") != NULL) {
      if (specials == MAX_RANGES) ok = 0;
      else { special_start[specials] = start; special_end[specials] = end; specials++; }
    } else if (strstr(line, "[vsyscall]") == NULL && end > top) {
      top = end;  // [vsyscall] is above user space, not a mapping of ours
    }
  }
  fclose(maps);
  if (!ok) return;
  // Mappings made later may land above today's highest: the last range goes at least to 128 TiB, the
  // top of x86-64's user space (the holes only add to the ENOMEM).
  if (top < (1UL << 47)) top = 1UL << 47;
  // The gaps between the special mappings (listed in address order), from 64 KiB (nothing can be
  // mapped lower: mmap_min_addr) to the top.
  unsigned long from = 0x10000;
  int n = 0;
  for (int i = 0; i <= specials; i++) {
    unsigned long to = i < specials ? special_start[i] : top;
    if (to > top) to = top;
    if (to > from) { range_start[n] = from; range_end[n] = to; n++; }
    if (i < specials && special_end[i] > from) from = special_end[i];
  }
  ranges = n;
}

static void mark_all_mappings_doforks(void) {
  if (ranges < 0) find_ranges();
  for (int i = 0; i < ranges; i++) {
    if (madvise((void *)range_start[i], range_end[i] - range_start[i], MADV_DOFORK) != 0 && errno != ENOMEM) {
      ranges = 0;  // something in the way: the slow path from now on
      break;
    }
  }
  if (ranges == 0) mark_each_mapping_doforks();
}

// V8 places each page of its heap (256 KiB) at a random address it passes mmap as a hint, anywhere below 64
// TiB. Scattered like that, every page costs each fork a page-table branch of its own to allocate and fill,
// and the child's exit one to free (a PUD, a PMD and a PTE page, where neighbouring pages would share them).
// The zygote is started with this file in LD_PRELOAD and GATHER_HEAP_ENV set to the LD_PRELOAD it would
// otherwise have had: before Node starts, this reserves the free address space from 8 GiB above the brk heap
// to 64 TiB with PROT_NONE (no memory, no page tables), so that V8's hints fail and the kernel places its
// pages next to each other below the shared libraries. It then puts LD_PRELOAD back, so that the programs a
// job starts do not load this file.
#define GATHER_HEAP_ENV "FORKPOOL_GATHER_HEAP"
#define HINT_TOP (1UL << 46)
#define MAX_GAPS 256

static void reserve_hint_range(void) {
  // Under an address-space limit the reservation would count against it: leave the heap as it is.
  struct rlimit as;
  if (getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur != RLIM_INFINITY) return;
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) return;
  unsigned long from = ((unsigned long)sbrk(0) + (8UL << 30)) & ~((1UL << 30) - 1), start, end;
  unsigned long gap_start[MAX_GAPS], gap_end[MAX_GAPS];
  int gaps = 0;
  char line[512];
  // The gaps first, mapped after: the reservations would change the file being read.
  while (gaps < MAX_GAPS && from < HINT_TOP && next_mapping(maps, line, sizeof line, &start, &end)) {
    unsigned long to = start < HINT_TOP ? start : HINT_TOP;
    if (to > from) { gap_start[gaps] = from; gap_end[gaps] = to; gaps++; }
    if (end > from) from = end;
  }
  fclose(maps);
  if (gaps < MAX_GAPS && from < HINT_TOP) { gap_start[gaps] = from; gap_end[gaps] = HINT_TOP; gaps++; }
  for (int i = 0; i < gaps; i++) {
    void *want = (void *)gap_start[i];
    size_t len = gap_end[i] - gap_start[i];
    void *got = mmap(want, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (got != MAP_FAILED && got != want) munmap(got, len);  // a kernel before 4.17 took it as a hint
  }
}

__attribute__((constructor)) static void gather_heap_at_start(void) {
  const char *preload = getenv(GATHER_HEAP_ENV);
  if (preload == NULL) return;
  reserve_hint_range();
  if (*preload == '\0') unsetenv("LD_PRELOAD");
  else setenv("LD_PRELOAD", preload, 1);
  unsetenv(GATHER_HEAP_ENV);
}

// The signal mask the child restores in unblockSignals().
static sigset_t mask_before_fork;

// fork() -> pid in the parent, 0 in the child, which leads a process group of its own. The child starts
// with every signal blocked: until src/fork/forked-child.ts has removed the zygote's signal handlers, a
// signal (the master's SIGTERM) would run them and be lost. It calls unblockSignals() then, and what
// arrived meanwhile is delivered.
static napi_value Fork(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "no libuv loop");
    return NULL;
  }
  pid_t parent = getpid();
  mark_all_mappings_doforks();
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &mask_before_fork);
  pid_t pid = fork();
  if (pid != 0) {
    int err = errno;
    if (pid > 0) setpgid(pid, 0);
    pthread_sigmask(SIG_SETMASK, &mask_before_fork, NULL);
    if (pid < 0) return throw_errno(env, "fork", err);
    return int_value(env, pid);
  }

  // Child. A process group of its own, which the processes its job starts join: the master signals the
  // group (the parent sets it too, so that it exists before the parent reports the pid).
  setpgid(0, 0);
  // Without this the child would die silently if the zygote is killed mid-job, leaving a
  // job running that nobody can report on. Checked after prctl: the zygote may already be gone.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(70);
  // libuv's epoll instance is shared with the parent after fork; this gives the child its own and
  // re-registers the inherited watchers in it (src/fork/forked-child.ts then closes the ones it must not keep).
  int err = uv_loop_fork(loop);
  if (err != 0) {
    fprintf(stderr, "forkpool: uv_loop_fork failed in child: %s\n", uv_strerror(err));
    _exit(70);
  }
  return int_value(env, 0);
}

// getpid(): a forked child's own pid (Node's process.pid is the zygote's, read once at start-up).
static napi_value GetPid(napi_env env, napi_callback_info info) {
  (void)info;
  return int_value(env, getpid());
}

// unblockSignals(): in the child, once its signal handlers are the ones it should have.
static napi_value UnblockSignals(napi_env env, napi_callback_info info) {
  (void)info;
  int err = pthread_sigmask(SIG_SETMASK, &mask_before_fork, NULL);
  if (err != 0) return throw_errno(env, "pthread_sigmask", err);
  return NULL;
}

// exit(code): leave at once. A forked child must not run Node's normal exit path: it tears down
// the V8 platform and joins worker threads that exist only in the zygote.
static napi_value Exit(napi_env env, napi_callback_info info) {
  int32_t code;
  if (!int_arg(env, info, 0, &code)) return NULL;
  _exit(code & 0xff);
}

// dieWithParent(expectedParentPid) -> false if the parent is already gone. For the zygote, so
// that it never outlives the master that started it.
static napi_value DieWithParent(napi_env env, napi_callback_info info) {
  int32_t expected;
  if (!int_arg(env, info, 0, &expected)) return NULL;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return throw_errno(env, "prctl", errno);
  napi_value v;
  napi_get_boolean(env, getppid() == expected, &v);
  return v;
}

// pipe(blocking = false) -> [readFd, writeFd]. The read end is the zygote's (non-blocking: it is
// polled), the write end the child's (blocking: a child writes its few lines and exits); with
// `blocking`, both ends are (for spawn mode, where libuv makes the master's end non-blocking when it
// opens it). Both close on exec so that programs a job spawns do not hold the pipe open after the
// child is gone.
static napi_value Pipe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool blocking = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_bool(env, argv[0], &blocking);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_errno(env, "pipe2", errno);
  if (!blocking && fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return throw_errno(env, "fcntl", err);
  }
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, int_value(env, fds[0]));
  napi_set_element(env, arr, 1, int_value(env, fds[1]));
  return arr;
}

// pidfdOpen(pid) -> fd that polls readable when the child exits: lets the zygote wait for
// commands and child exits in one poll() without a SIGCHLD handler (libuv owns SIGCHLD).
static napi_value PidfdOpen(napi_env env, napi_callback_info info) {
  int32_t pid;
  if (!int_arg(env, info, 0, &pid)) return NULL;
  long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return throw_errno(env, "pidfd_open", errno);
  fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  return int_value(env, fd);
}

// poll(fds, timeoutMs) -> revents for each fd (POLLIN | POLLHUP | POLLERR | POLLNVAL bits), all 0 on
// timeout or EINTR. The zygote's event loop stays idle: it waits here, synchronously.
static napi_value Poll(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t n;
  int32_t timeout;
  if (argc < 2 || napi_get_array_length(env, argv[0], &n) != napi_ok ||
      napi_get_value_int32(env, argv[1], &timeout) != napi_ok || n > MAX_POLL_FDS) {
    napi_throw_type_error(env, NULL, "poll(fds: number[], timeoutMs: number)");
    return NULL;
  }
  struct pollfd *pfds = calloc(n > 0 ? n : 1, sizeof *pfds);
  if (pfds == NULL) return throw_errno(env, "poll", ENOMEM);
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    int32_t fd = -1;
    napi_get_element(env, argv[0], i, &el);
    napi_get_value_int32(env, el, &fd);
    pfds[i].fd = fd;
    pfds[i].events = POLLIN;
  }
  int r = poll(pfds, n, timeout);
  if (r < 0 && errno != EINTR) {
    int err = errno;
    free(pfds);
    return throw_errno(env, "poll", err);
  }
  napi_value arr;
  napi_create_array_with_length(env, n, &arr);
  for (uint32_t i = 0; i < n; i++) napi_set_element(env, arr, i, int_value(env, r > 0 ? pfds[i].revents : 0));
  free(pfds);
  return arr;
}

// waitpid(pid) -> null while it runs, else { code, signal } (one of them null). Never blocks.
static napi_value Waitpid(napi_env env, napi_callback_info info) {
  int32_t pid;
  if (!int_arg(env, info, 0, &pid)) return NULL;
  int status;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r < 0) return throw_errno(env, "waitpid", errno);
  napi_value result, nul;
  napi_get_null(env, &nul);
  if (r == 0) return nul;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "code", WIFEXITED(status) ? int_value(env, WEXITSTATUS(status)) : nul);
  napi_set_named_property(env, result, "signal", WIFSIGNALED(status) ? int_value(env, WTERMSIG(status)) : nul);
  return result;
}

// Copies a JavaScript array of strings into a NULL-terminated, malloc'ed vector (free_strings).
static char **string_array(napi_env env, napi_value arr) {
  uint32_t n;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof *out);
  if (out == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    size_t len;
    if (napi_get_element(env, arr, i, &el) != napi_ok ||
        napi_get_value_string_utf8(env, el, NULL, 0, &len) != napi_ok ||
        (out[i] = malloc(len + 1)) == NULL) {
      for (uint32_t j = 0; j < i; j++) free(out[j]);
      free(out);
      return NULL;
    }
    napi_get_value_string_utf8(env, el, out[i], len + 1, &len);
  }
  return out;
}

static void free_strings(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

// spawn(file, argv, env, fds) -> Promise<pid>. Starts a program the way Node's child_process.spawn
// does, without its fork(): libuv forks the master, copying the page tables of its ~90 MB only for
// exec to throw them away (~1.5-2.3 ms of its CPU per child, measured), where the child here runs in the
// parent's memory until exec, as glibc's posix_spawn does (clone with CLONE_VM | CLONE_VFORK: ~0.2 ms).
// It is done by hand rather than with posix_spawn for one thing posix_spawn cannot do between clone and
// exec: PR_SET_PDEATHSIG, so that the child is killed when its master dies, even while its job keeps the
// CPU busy and no check of its own would run.
//
// The calling thread waits until the child has exec'd, which on a busy machine takes as long as the child
// waits for a CPU: so it runs on libuv's thread pool, and the event loop goes on. The kernel sends the
// death signal when the *thread* that created the child ends, not the process: libuv's pool threads are
// started once and end only at the process's exit (uv_library_shutdown), so the child dies with the master.
//
// fds[i] becomes the child's fd i: -1 for /dev/null, i itself to inherit it; every source fd must
// be above the highest target, so that no dup2 overwrites a later one. As libuv does, the child
// starts with no signal blocked and every signal's default action. It leads a process group of its own.
// The caller reaps the child.
struct spawn_request {
  char file[4096];
  char **args, **envp;
  int fds[64];
  uint32_t nfds;
  pid_t parent;
  pid_t pid;
  int err;
  // Written by the child (it shares the parent's memory) when it fails before exec.
  volatile int child_err;
  napi_deferred deferred;
  napi_async_work work;
};

// The child's own stack: it must not share the parent thread's, which is live below the clone call. One per
// pool thread, kept: a thread spawns one child at a time, and mapping a stack per child would cost the
// master an munmap (a TLB flush on every CPU that runs one of its threads) per child.
#define SPAWN_STACK_SIZE (64 * 1024)
static __thread void *spawn_stack;

static void free_request(struct spawn_request *req) {
  free_strings(req->args);
  free_strings(req->envp);
  free(req);
}

// The child, from clone to exec. It runs in the master's memory, so it only makes system calls (no malloc,
// no locks) and writes nothing of the master's but child_err.
static int spawn_child(void *data) {
  struct spawn_request *req = data;
  // Every signal is blocked (the parent blocked them before clone). A handler of the master's must never run
  // here, in its memory: every action goes back to its default before any signal is let in.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);  // libc's own signals refuse: no matter
  }
  // A process group of its own (pgid = its pid), which the processes its job starts join: the master signals
  // the group.
  if (setpgid(0, 0) != 0) goto fail;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) goto fail;
  // The master may have died before prctl: then the signal will never come, and the child has been handed to
  // another parent. It must not run on unwatched.
  if (getppid() != req->parent) _exit(127);
  for (uint32_t i = 0; i < req->nfds; i++) {
    int from = req->fds[i], to = (int)i;
    if (from < 0) {
      int null = open("/dev/null", O_RDWR);
      if (null < 0) goto fail;
      if (null != to) {
        if (dup2(null, to) < 0) goto fail;
        close(null);
      }
    } else if (from == to) {
      // Inherited: close-on-exec cleared, as posix_spawn's dup2 onto itself does. The parent's own stdio may
      // have it (a Node parent's stdout, say, when Node's spawn gave it a socket): without this, exec would
      // close it and the child's output would go nowhere.
      int flags = fcntl(to, F_GETFD);
      if (flags < 0 || fcntl(to, F_SETFD, flags & ~FD_CLOEXEC) < 0) goto fail;
    } else if (dup2(from, to) < 0) {
      goto fail;
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(req->file, req->args, req->envp);
fail:
  req->child_err = errno;
  _exit(127);
}

static void spawn_execute(napi_env env, void *data) {
  (void)env;
  struct spawn_request *req = data;
  if (spawn_stack == NULL) {
    void *stack = mmap(NULL, SPAWN_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
      req->err = errno;
      return;
    }
    spawn_stack = stack;
  }
  req->parent = getpid();
  req->child_err = 0;
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  // CLONE_VFORK: this thread goes on once the child has exec'd or exited.
  pid_t pid = clone(spawn_child, (char *)spawn_stack + SPAWN_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, req);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &before, NULL);
  if (pid < 0) {
    req->err = err;
  } else if (req->child_err != 0) {
    // It never ran the program: reaped here, as the caller never hears of its pid.
    waitpid(pid, NULL, 0);
    req->err = req->child_err;
  } else {
    req->pid = pid;
  }
}

static void spawn_complete(napi_env env, napi_status status, void *data) {
  struct spawn_request *req = data;
  if (status != napi_ok && req->err == 0) req->err = ECANCELED;
  if (req->err == 0) {
    napi_resolve_deferred(env, req->deferred, int_value(env, req->pid));
  } else {
    char message[4400];
    snprintf(message, sizeof message, "spawn %s: %s", req->file, strerror(req->err));
    napi_value msg, code, error;
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, errno_name(req->err), NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &error);
    napi_reject_deferred(env, req->deferred, error);
  }
  napi_delete_async_work(env, req->work);
  free_request(req);
}

static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct spawn_request *req = calloc(1, sizeof *req);
  if (req == NULL) return throw_errno(env, "spawn", ENOMEM);
  size_t len;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], req->file, sizeof req->file, &len) != napi_ok ||
      len >= sizeof req->file - 1 || napi_get_array_length(env, argv[3], &req->nfds) != napi_ok || req->nfds > 64) {
    free(req);
    napi_throw_type_error(env, NULL, "spawn(file: string, argv: string[], env: string[], fds: number[])");
    return NULL;
  }
  for (uint32_t i = 0; i < req->nfds; i++) {
    napi_value el;
    napi_get_element(env, argv[3], i, &el);
    int fd;
    if (napi_get_value_int32(env, el, &fd) != napi_ok || (fd >= 0 && fd != (int)i && fd < (int)req->nfds)) {
      free(req);
      napi_throw_type_error(env, NULL, "spawn: each fd must be -1, its own index, or above the highest index");
      return NULL;
    }
    req->fds[i] = fd;
  }
  req->args = string_array(env, argv[1]);
  req->envp = string_array(env, argv[2]);
  if (req->args == NULL || req->envp == NULL) {
    free_request(req);
    napi_throw_type_error(env, NULL, "spawn: argv and env must be arrays of strings");
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &req->deferred, &promise);
  napi_create_string_utf8(env, "forkpool:spawn", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, spawn_execute, spawn_complete, req, &req->work) != napi_ok ||
      napi_queue_async_work(env, req->work) != napi_ok) {
    // Not queued: settle the promise here rather than leave it pending.
    req->err = EAGAIN;
    spawn_complete(env, napi_generic_failure, req);
  }
  return promise;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"fork", Fork},           {"unblockSignals", UnblockSignals}, {"exit", Exit},
      {"dieWithParent", DieWithParent}, {"pipe", Pipe},              {"pidfdOpen", PidfdOpen},
      {"poll", Poll},           {"waitpid", Waitpid},              {"spawn", Spawn},
      {"getpid", GetPid},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_set_named_property(env, exports, "version", int_value(env, ADDON_VERSION));
  return exports;
}
