// Starting the app with posix_spawn, which glibc runs as clone(CLONE_VM|CLONE_VFORK): no copy
// of our page tables (a fork of a Node process costs a millisecond), exec errors reported
// directly, and the child's set-up (new session, default signal dispositions, empty signal
// mask, stdout/stderr onto our pipes) done by the C library rather than by hand after a fork.
#define _GNU_SOURCE
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

// spawn(file, argv, envp, cwd | null, stdoutFd, stderrFd[, stdinFd]): pid. Without stdinFd
// (the app) stdin stays ours (inherited); with it (an exec session) that fd becomes the child's 0.
// Throws an Error with `errno` set when the command cannot be started (ENOENT, EACCES, ...).
napi_value spawn_child(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, envp, cwd, stdoutFd, stderrFd)");
    return NULL;
  }
  char *file = get_string(env, argv[0]);
  char **child_argv = get_strings(env, argv[1]);
  char **child_envp = get_strings(env, argv[2]);
  napi_valuetype cwd_type;
  napi_typeof(env, argv[3], &cwd_type);
  char *cwd = cwd_type == napi_string ? get_string(env, argv[3]) : NULL;
  int32_t out_fd = -1, err_fd = -1;
  napi_get_value_int32(env, argv[4], &out_fd);
  napi_get_value_int32(env, argv[5], &err_fd);
  int32_t in_fd = -1;
  napi_valuetype in_type = napi_undefined;
  if (argc >= 7) napi_typeof(env, argv[6], &in_type);
  if (in_type == napi_number) napi_get_value_int32(env, argv[6], &in_fd);

  napi_value result = NULL;
  if (file == NULL || child_argv == NULL || child_envp == NULL || out_fd < 0 || err_fd < 0 ||
      (in_type == napi_number && in_fd < 3)) {
    napi_throw_type_error(env, NULL, "spawn: file and cwd must be strings, argv and envp arrays of strings");
    goto done;
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // Our stdin is the child's: Node marks it close-on-exec, and a dup2 onto itself clears that
  // (glibc >= 2.29). A closed stdin stays closed, as it would be without us.
  // Given a stdin fd (above the standard ones, as pipe() makes them), it becomes the child's 0.
  if (in_fd >= 0) posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  else if (fcntl(0, F_GETFD) != -1) posix_spawn_file_actions_adddup2(&actions, 0, 0);
  // dup2 clears close-on-exec on the target: the pipes' write ends become the child's 1 and 2.
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  if (cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, cwd);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  // Node ignores SIGPIPE and handles others; the app must start with every default, unblocked.
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  // A session and process group of its own: group signals and the final SIGKILL reach
  // grandchildren, and nothing aimed at the app's group reaches us.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, file, &actions, &attr, child_argv, child_envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw_errno(env, rc, file);
    goto done;
  }
  napi_create_int32(env, pid, &result);

done:
  free(file);
  free(cwd);
  free_strings(child_argv);
  free_strings(child_envp);
  return result;
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
