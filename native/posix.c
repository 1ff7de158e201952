// The few POSIX calls Node does not offer and a supervisor needs: starting the app on real pipes
// (spawn.c), orphan reaping for PID 1 and subreapers, two terminal calls, and erasing a secret
// from our own environment block.
//
// Reaping: libuv reaps only the pids it spawned (waitpid(pid, WNOHANG) per handle), and node-pty waits
// for its own pid in a thread. A reaper that called waitpid(-1) would steal their exit status,
// so this one waits only for zombies whose parent is us and whose pid the caller does not own.
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "posix.h"

// Reads /proc/<pid>/stat and reports its state letter and parent pid. The command name sits in
// parentheses and may itself contain spaces or ')', so parse from the last ')'.
static int read_stat(const char *pid_dir, char *state, pid_t *ppid) {
  char path[64];
  char buf[512];
  snprintf(path, sizeof path, "/proc/%s/stat", pid_dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *end = strrchr(buf, ')');
  if (end == NULL || end[1] != ' ') return -1;
  int parent = 0;
  if (sscanf(end + 2, "%c %d", state, &parent) != 2) return -1;
  *ppid = (pid_t)parent;
  return 0;
}

static int is_owned(pid_t pid, const int32_t *owned, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (owned[i] == pid) return 1;
  }
  return 0;
}

// reapOrphans(owned: Int32Array): number — waits for every zombie child of ours that is not in
// `owned`, returns how many were reaped.
static napi_value reap_orphans(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);

  const int32_t *owned = NULL;
  size_t owned_count = 0;
  bool is_typed = false;
  if (argc >= 1) napi_is_typedarray(env, argv[0], &is_typed);
  if (!is_typed) {
    napi_throw_type_error(env, NULL, "reapOrphans expects an Int32Array of owned pids");
    return NULL;
  }
  napi_typedarray_type type;
  void *data = NULL;
  napi_get_typedarray_info(env, argv[0], &type, &owned_count, &data, NULL, NULL);
  if (type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "reapOrphans expects an Int32Array of owned pids");
    return NULL;
  }
  owned = (const int32_t *)data;

  pid_t self = getpid();
  int reaped = 0;
  DIR *proc = opendir("/proc");
  if (proc != NULL) {
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
      if (!isdigit((unsigned char)entry->d_name[0])) continue;
      char state = 0;
      pid_t ppid = 0;
      if (read_stat(entry->d_name, &state, &ppid) != 0) continue;
      if (state != 'Z' || ppid != self) continue;
      pid_t pid = (pid_t)strtol(entry->d_name, NULL, 10);
      if (is_owned(pid, owned, owned_count)) continue;
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) reaped++;
    }
    closedir(proc);
  }

  napi_value result;
  napi_create_int32(env, reaped, &result);
  return result;
}

// setChildSubreaper(): boolean — orphaned descendants are reparented to us instead of PID 1.
static napi_value set_child_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, &result);
  return result;
}

// disableOutputPostProcessing(fd): boolean — clears OPOST on a terminal. Node's raw mode keeps
// ONLCR on, so a child's pty output (already "\r\n") would reach the screen as "\r\r\n".
static napi_value disable_output_post_processing(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "disableOutputPostProcessing expects a file descriptor");
    return NULL;
  }
  struct termios t;
  bool ok = tcgetattr(fd, &t) == 0;
  if (ok) {
    t.c_oflag &= ~OPOST;
    ok = tcsetattr(fd, TCSANOW, &t) == 0;
  }
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

// pipe(): [readFd, writeFd, capacity] — a real pipe, both ends close-on-exec. libuv's stdio
// "pipe" is a socketpair, and an app whose stdout is a socket cannot open /dev/stdout (ENXIO:
// nginx's access.log -> /dev/stdout) and meets ECONNRESET instead of SIGPIPE when its reader
// goes. Its capacity is raised to 1 MiB where allowed: an app writing fast fills it without
// waking us for every write, and we read it in gulps (see src/supervisor/output.ts).
static napi_value make_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  // With our own stdout closed, the pipe could land on fd 1 or 2, where the child's dup2 onto
  // it would be a no-op that keeps close-on-exec: keep both ends above the standard fds.
  int failure = 0;
  for (int i = 0; i < 2; i++) {
    if (fds[i] < 3) {
      int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
      if (moved < 0 && failure == 0) failure = errno;
      close(fds[i]);
      fds[i] = moved;
    }
  }
  if (failure != 0) {
    // One end could not be moved (EMFILE): the other, valid or moved, must not leak.
    for (int i = 0; i < 2; i++) {
      if (fds[i] >= 0) close(fds[i]);
    }
    napi_throw_error(env, NULL, strerror(failure));
    return NULL;
  }
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); // refused (pipe-max-size, a user's pipe quota): as it is
  int capacity = fcntl(fds[1], F_GETPIPE_SZ);
  napi_value result, rd, wr, cap;
  napi_create_array_with_length(env, 3, &result);
  napi_create_int32(env, fds[0], &rd);
  napi_create_int32(env, fds[1], &wr);
  napi_create_int32(env, capacity, &cap);
  napi_set_element(env, result, 0, rd);
  napi_set_element(env, result, 1, wr);
  napi_set_element(env, result, 2, cap);
  return result;
}

// widenPipe(fd): number — a pipe we read (the ctl's stdin) raised to 1 MiB where allowed, so
// that its writer fills it while we are busy and one read takes it all. Returns its capacity
// in bytes, -1 when `fd` is not a pipe.
static napi_value widen_pipe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_get_value_int32(env, argv[0], &fd);
  int capacity = -1;
  // F_GETPIPE_SZ fails on anything but a pipe (no fstat: glibc's is GLIBC_2.33, above the release's floor).
  if (fd >= 0 && fcntl(fd, F_GETPIPE_SZ) >= 0) {
    fcntl(fd, F_SETPIPE_SZ, 1 << 20); // refused (pipe-max-size, a user's pipe quota): as it is
    capacity = fcntl(fd, F_GETPIPE_SZ);
  }
  napi_value result;
  napi_create_int32(env, capacity, &result);
  return result;
}

// isatty(fd): boolean — without loading Node's tty module, which costs start-up time.
static napi_value is_a_tty(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_get_value_int32(env, argv[0], &fd);
  napi_value result;
  napi_get_boolean(env, fd >= 0 && isatty(fd), &result);
  return result;
}

extern char **environ;

// Where the kernel placed our environment strings at exec: fields 50 and 51 (env_start,
// env_end) of /proc/self/stat, which is what /proc/<pid>/environ reads. The command name
// (field 2) may hold spaces or ')', so count from the last ')'.
static int env_block(char **start, char **end) {
  char buf[4096];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL) return -1;
  p += 2; // field 3 starts here
  for (int field = 3; field < 50 && p != NULL; field++) {
    p = strchr(p, ' ');
    if (p != NULL) p++;
  }
  unsigned long long s = 0, e = 0;
  if (p == NULL || sscanf(p, "%llu %llu", &s, &e) != 2 || s == 0 || e <= s) return -1;
  *start = (char *)(uintptr_t)s;
  *end = (char *)(uintptr_t)e;
  return 0;
}

// eraseEnv(name): number — unsets `name` and overwrites every `name=value` string of the
// environment block the kernel gave us with zero bytes, so that /proc/<pid>/environ (readable
// by any process of our uid: the app, exec sessions) no longer holds it. unsetenv alone only
// drops the pointer. Returns the number of strings erased, -1 when the block is unknown.
static napi_value erase_env(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[256];
  size_t name_len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok || name_len == 0 ||
      name_len >= sizeof name - 1 || strchr(name, '=') != NULL) {
    napi_throw_type_error(env, NULL, "eraseEnv expects a variable name");
    return NULL;
  }
  // First out of environ, so that nothing reads the bytes we clear.
  unsetenv(name);
  int erased = -1;
  char *start = NULL, *end = NULL;
  if (env_block(&start, &end) == 0) {
    erased = 0;
    for (char *p = start; p < end;) {
      size_t len = strnlen(p, (size_t)(end - p));
      if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
        memset(p, 0, len);
        erased++;
      }
      p += len + 1;
    }
  }
  napi_value result;
  napi_create_int32(env, erased, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"isatty", NULL, is_a_tty, NULL, NULL, NULL, napi_default, NULL},
      {"spawn", NULL, spawn_child, NULL, NULL, NULL, napi_default, NULL},
      {"spawnForked", NULL, spawn_child_forked, NULL, NULL, NULL, napi_default, NULL},
      {"waitChild", NULL, wait_child, NULL, NULL, NULL, napi_default, NULL},
      {"widenPipe", NULL, widen_pipe, NULL, NULL, NULL, napi_default, NULL},
      {"pipe", NULL, make_pipe, NULL, NULL, NULL, napi_default, NULL},
      {"reapOrphans", NULL, reap_orphans, NULL, NULL, NULL, napi_default, NULL},
      {"setChildSubreaper", NULL, set_child_subreaper, NULL, NULL, NULL, napi_default, NULL},
      {"disableOutputPostProcessing", NULL, disable_output_post_processing, NULL, NULL, NULL, napi_default, NULL},
      {"eraseEnv", NULL, erase_env, NULL, NULL, NULL, napi_default, NULL},
      {"relay", NULL, relay_output, NULL, NULL, NULL, napi_default, NULL},
      {"relayBusy", NULL, relay_busy, NULL, NULL, NULL, napi_default, NULL},
      {"relayStats", NULL, relay_stats, NULL, NULL, NULL, napi_default, NULL},
      {"encodeLines", NULL, encode_lines, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
