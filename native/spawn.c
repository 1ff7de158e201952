// Starting the app with posix_spawn, which glibc runs as clone(CLONE_VM|CLONE_VFORK): no copy
// of our page tables (a fork of a Node process costs a millisecond), exec errors reported
// directly, and the child's set-up (new session, default signal dispositions, empty signal
// mask, stdout/stderr onto our pipes) done by the C library rather than by hand after a fork.
// On glibc 2.28, which lacks what that needs (see addchdir), by fork and by hand.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posix.h"

static char *get_string(napi_env env, napi_value value) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s == NULL) return NULL;
  napi_get_value_string_utf8(env, value, s, len + 1, &len);
  return s;
}

static void free_strings(char **list) {
  if (list == NULL) return;
  for (char **p = list; *p != NULL; p++) free(*p);
  free(list);
}

// A JS array of strings as a NULL-terminated char* array (argv, envp).
static char **get_strings(napi_env env, napi_value array) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, array, &is_array) != napi_ok || !is_array) return NULL;
  napi_get_array_length(env, array, &n);
  char **list = calloc(n + 1, sizeof(char *));
  if (list == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    list[i] = get_string(env, item);
    if (list[i] == NULL) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  napi_value message, error, code;
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
  return NULL;
}

// The child's set-up, however it is started.
struct child_spec {
  char *file, *cwd;
  char **argv, **envp;
  int in_fd, out_fd, err_fd; // in_fd -1: our stdin stays the child's
};

// posix_spawn_file_actions_addchdir_np came in glibc 2.29, and so did "a dup2 onto itself
// clears close-on-exec", which our inherited stdin relies on. The release addons promise glibc
// 2.28, so it is looked up at run time, not linked: where it is missing (2.28) the child is
// started with fork instead, whose set-up we do by hand.
typedef int (*addchdir_fn)(posix_spawn_file_actions_t *, const char *);

static addchdir_fn addchdir(void) {
  static int looked;
  static addchdir_fn fn;
  if (!looked) { // only ever called on the JavaScript thread
    fn = (addchdir_fn)dlsym(RTLD_DEFAULT, "posix_spawn_file_actions_addchdir_np");
    looked = 1;
  }
  return fn;
}

static void add_output(posix_spawn_file_actions_t *actions, int fd, int target) {
  if (fd != target) posix_spawn_file_actions_adddup2(actions, fd, target);
  else if (fcntl(target, F_GETFD) != -1) posix_spawn_file_actions_adddup2(actions, target, target);
}

// The forked child's add_output: a dup2 onto itself would leave close-on-exec set.
static int set_output(int fd, int target) {
  if (fd != target) return dup2(fd, target) < 0 ? errno : 0;
  if (fcntl(target, F_GETFD) == -1) return 0;
  return fcntl(target, F_SETFD, 0) < 0 ? errno : 0;
}

static int spawn_posix(const struct child_spec *c, addchdir_fn chdir_action, pid_t *pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // Our stdin is the child's: Node marks it close-on-exec, and a dup2 onto itself clears that
  // (glibc >= 2.29). A closed stdin stays closed, as it would be without us.
  // Given a stdin fd (above the standard ones, as pipe() makes them), it becomes the child's 0.
  if (c->in_fd >= 0) posix_spawn_file_actions_adddup2(&actions, c->in_fd, 0);
  else if (fcntl(0, F_GETFD) != -1) posix_spawn_file_actions_adddup2(&actions, 0, 0);
  // dup2 clears close-on-exec on the target: the pipes' write ends become the child's 1 and 2.
  // Given 1 and 2 themselves (disabled mode), ours are the child's, closed ones staying closed.
  add_output(&actions, c->out_fd, 1);
  add_output(&actions, c->err_fd, 2);
  if (c->cwd != NULL) chdir_action(&actions, c->cwd);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  // Node ignores SIGPIPE and handles others; the app must start with every default, unblocked.
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  // A session and process group of its own: group signals and the final SIGKILL reach
  // grandchildren, and nothing aimed at the app's group reaches us.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(pid, c->file, &actions, &attr, c->argv, c->envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// In the forked child: only async-signal-safe calls until execve. Returns the errno to report.
static int child_setup_and_exec(const struct child_spec *c) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL); // SIGKILL, SIGSTOP, glibc's own: refused, fine
  if (setsid() < 0) return errno;
  if (c->in_fd >= 0) {
    if (dup2(c->in_fd, 0) < 0) return errno;
  } else if (fcntl(0, F_GETFD) != -1 && fcntl(0, F_SETFD, 0) < 0) {
    return errno;
  }
  int err = set_output(c->out_fd, 1);
  if (err == 0) err = set_output(c->err_fd, 2);
  if (err != 0) return err;
  if (c->cwd != NULL && chdir(c->cwd) < 0) return errno;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(c->file, c->argv, c->envp);
  return errno;
}

// The same child as spawn_posix gives, by fork: its errno comes back through a close-on-exec
// pipe (nothing read: execve succeeded), and a child that failed is reaped here.
static int spawn_fork(const struct child_spec *c, pid_t *pid_out) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return errno;
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old); // none of Node's handlers may run in the child
  pid_t pid = fork();
  if (pid == 0) {
    int err = child_setup_and_exec(c);
    while (write(report[1], &err, sizeof err) < 0 && errno == EINTR) {
    }
    _exit(127);
  }
  int fork_err = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(report[1]);
  if (pid < 0) {
    close(report[0]);
    return fork_err;
  }
  int child_err = 0;
  ssize_t n;
  do n = read(report[0], &child_err, sizeof child_err);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == (ssize_t)sizeof child_err) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return child_err;
  }
  *pid_out = pid;
  return 0;
}

enum spawn_way { SPAWN_AUTO, SPAWN_FORK };

static napi_value spawn_with(napi_env env, napi_callback_info info, enum spawn_way way) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, envp, cwd, stdoutFd, stderrFd)");
    return NULL;
  }
  struct child_spec c = {NULL, NULL, NULL, NULL, -1, -1, -1};
  c.file = get_string(env, argv[0]);
  c.argv = get_strings(env, argv[1]);
  c.envp = get_strings(env, argv[2]);
  napi_valuetype cwd_type;
  napi_typeof(env, argv[3], &cwd_type);
  c.cwd = cwd_type == napi_string ? get_string(env, argv[3]) : NULL;
  napi_get_value_int32(env, argv[4], &c.out_fd);
  napi_get_value_int32(env, argv[5], &c.err_fd);
  napi_valuetype in_type = napi_undefined;
  if (argc >= 7) napi_typeof(env, argv[6], &in_type);
  if (in_type == napi_number) napi_get_value_int32(env, argv[6], &c.in_fd);

  napi_value result = NULL;
  if (c.file == NULL || c.argv == NULL || c.envp == NULL || c.out_fd < 0 || c.err_fd < 0 ||
      (in_type == napi_number && c.in_fd < 3)) {
    napi_throw_type_error(env, NULL, "spawn: file and cwd must be strings, argv and envp arrays of strings");
    goto done;
  }
  if (in_type != napi_number) c.in_fd = -1;

  pid_t pid = 0;
  addchdir_fn chdir_action = way == SPAWN_AUTO ? addchdir() : NULL;
  int rc = chdir_action != NULL ? spawn_posix(&c, chdir_action, &pid) : spawn_fork(&c, &pid);
  if (rc != 0) {
    throw_errno(env, rc, c.file);
    goto done;
  }
  napi_create_int32(env, pid, &result);

done:
  free(c.file);
  free(c.cwd);
  free_strings(c.argv);
  free_strings(c.envp);
  return result;
}

// spawn(file, argv, envp, cwd | null, stdoutFd, stderrFd[, stdinFd]): pid. Without stdinFd
// (the app) stdin stays ours (inherited); with it (an exec session) that fd becomes the child's 0.
// stdoutFd 1 and stderrFd 2 likewise mean ours, inherited (disabled mode: nothing relayed).
// Throws an Error with `errno` set when the command cannot be started (ENOENT, EACCES, ...).
napi_value spawn_child(napi_env env, napi_callback_info info) {
  return spawn_with(env, info, SPAWN_AUTO);
}

// spawnForked(...): spawn's fork way, which glibc 2.28 takes; the same child, for the tests.
napi_value spawn_child_forked(napi_env env, napi_callback_info info) {
  return spawn_with(env, info, SPAWN_FORK);
}

// waitChild(pid): null while it runs, else { code, signal } (one of them null), reaping it.
napi_value wait_child(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t pid = 0;
  bool keep = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "waitChild expects a pid");
    return NULL;
  }
  if (argc >= 2) napi_get_value_bool(env, argv[1], &keep); // not a boolean: false
  // keep: WNOWAIT leaves it a zombie, whose pid (its session and group id) stays ours until a
  // later call reaps it.
  siginfo_t child;
  int rc;
  do {
    memset(&child, 0, sizeof child);
    rc = waitid(P_PID, (id_t)pid, &child, WEXITED | WNOHANG | (keep ? WNOWAIT : 0));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, "waitid");
  napi_value result;
  if (child.si_pid == 0) { // still running
    napi_get_null(env, &result);
    return result;
  }
  napi_value code, signal;
  napi_create_object(env, &result);
  if (child.si_code == CLD_EXITED) {
    napi_create_int32(env, child.si_status, &code);
    napi_get_null(env, &signal);
  } else { // CLD_KILLED, CLD_DUMPED
    napi_get_null(env, &code);
    napi_create_int32(env, child.si_status, &signal);
  }
  napi_set_named_property(env, result, "code", code);
  napi_set_named_property(env, result, "signal", signal);
  return result;
}
