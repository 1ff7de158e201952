// The app's output relayed by a thread of its own, off the JavaScript thread: read from the
// app's pipe, write to our stdout or stderr at once (the app waits only for whoever reads our
// output, as under tini), and hand a copy to JavaScript for log capture. The copy never holds
// the relay back: when JavaScript has more than its limit still to take, what does not fit is
// dropped and counted (bytes, lines, whether it ended mid-line), and everything after it too
// until JavaScript took what it had, so that a batch is always "data, then the gap after it".
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posix.h"

#define READ_BYTES (256 * 1024)

struct relay {
  int from, to;
  size_t limit;
  napi_threadsafe_function tsfn;
  pthread_mutex_t lock;
  // Guarded by lock: the batch JavaScript has not taken yet.
  char *data;
  size_t len, cap;
  int64_t gap_bytes, gap_lines;
  int gap_mid_line;
  int notified; // a call to JavaScript is queued and will take the batch
  int ended;
  int end_errno; // 0 at EOF, else the read or write error that ended the relay
  // Set while bytes read from the app wait to be written out (our reader may be stalled).
  int writing;
  // Two owners: the thread's side (its threadsafe function) and JavaScript's handle.
  int refs;
};

static void unref_relay(struct relay *r) {
  if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  pthread_mutex_destroy(&r->lock);
  free(r->data);
  free(r);
}

static size_t count_newlines(const char *p, size_t n) {
  size_t lines = 0;
  for (const char *end = p + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) lines++;
  return lines;
}

// Whole buffer to `fd`, waiting for room when it is non-blocking; errno when it cannot.
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w >= 0) {
      p += w;
      n -= (size_t)w;
    } else if (errno == EAGAIN) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      poll(&pfd, 1, -1);
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

// Called with the lock held: make sure JavaScript will come for the batch.
static void notify_locked(struct relay *r) {
  if (r->notified) return;
  r->notified = 1;
  napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
}

static void keep_copy(struct relay *r, const char *p, size_t n) {
  pthread_mutex_lock(&r->lock);
  int fits = r->gap_bytes == 0 && r->len + n <= r->limit;
  if (fits && r->len + n > r->cap) {
    size_t cap = r->cap ? r->cap : READ_BYTES;
    while (cap < r->len + n) cap *= 2;
    char *grown = realloc(r->data, cap);
    if (grown) {
      r->data = grown;
      r->cap = cap;
    } else {
      fits = 0;
    }
  }
  if (fits) {
    memcpy(r->data + r->len, p, n);
    r->len += n;
  } else {
    r->gap_bytes += (int64_t)n;
    r->gap_lines += (int64_t)count_newlines(p, n);
    r->gap_mid_line = p[n - 1] != '\n';
  }
  notify_locked(r);
  pthread_mutex_unlock(&r->lock);
}

static void *relay_thread(void *arg) {
  struct relay *r = arg;
  char *buf = malloc(READ_BYTES);
  int err = buf ? 0 : ENOMEM;
  while (err == 0) {
    ssize_t n = read(r->from, buf, READ_BYTES);
    if (n == 0) break;
    if (n < 0) {
      if (errno != EINTR) err = errno;
      continue;
    }
    // Our output first: the app is never held up by log capture.
    __atomic_store_n(&r->writing, 1, __ATOMIC_RELEASE);
    err = write_all(r->to, buf, (size_t)n);
    __atomic_store_n(&r->writing, 0, __ATOMIC_RELEASE);
    keep_copy(r, buf, (size_t)n);
  }
  free(buf);
  // Our reader went away (EPIPE): the app's pipe closes too, so that the app meets the
  // SIGPIPE it would have met writing there itself. At EOF it is ours to close as well.
  close(r->from);
  pthread_mutex_lock(&r->lock);
  r->ended = 1;
  r->end_errno = err;
  notify_locked(r);
  pthread_mutex_unlock(&r->lock);
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  return NULL;
}

static void free_batch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

// On the JavaScript thread: the batch, as (data Buffer | null, gapBytes, gapLines, gapMidLine,
// ended, errno) to the callback.
static void call_js(napi_env env, napi_value callback, void *context, void *unused) {
  (void)unused;
  struct relay *r = context;
  if (env == NULL) return;
  pthread_mutex_lock(&r->lock);
  char *data = r->data;
  size_t len = r->len;
  int64_t gap_bytes = r->gap_bytes, gap_lines = r->gap_lines;
  int gap_mid_line = r->gap_mid_line, ended = r->ended, end_errno = r->end_errno;
  r->data = NULL;
  r->len = r->cap = 0;
  r->gap_bytes = r->gap_lines = 0;
  r->gap_mid_line = 0;
  r->notified = 0;
  pthread_mutex_unlock(&r->lock);

  napi_value argv[6], undefined;
  if (len > 0) {
    napi_create_external_buffer(env, len, data, free_batch, NULL, &argv[0]);
  } else {
    free(data);
    napi_get_null(env, &argv[0]);
  }
  napi_create_double(env, (double)gap_bytes, &argv[1]);
  napi_create_double(env, (double)gap_lines, &argv[2]);
  napi_get_boolean(env, gap_mid_line, &argv[3]);
  napi_get_boolean(env, ended, &argv[4]);
  napi_create_int32(env, end_errno, &argv[5]);
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, callback, 6, argv, NULL);
}

static void finalize_relay(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  unref_relay(data);
}

static napi_value fail(napi_env env, int err, const char *what) {
  char text[160];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, text);
  return NULL;
}

// relay(fromFd, toFd, copyLimitBytes, onBatch): starts the thread and returns its handle; from
// then on `fromFd` is the thread's (it closes it at the end). onBatch(data, gapBytes, gapLines,
// gapMidLine, ended, errno) is called on this thread for each batch, the last one with ended true.
napi_value relay_output(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "relay(fromFd, toFd, copyLimitBytes, onBatch)");
    return NULL;
  }
  struct relay *r = calloc(1, sizeof *r);
  if (!r) return fail(env, ENOMEM, "relay");
  r->refs = 2;
  int64_t limit = 0;
  napi_get_value_int32(env, argv[0], &r->from);
  napi_get_value_int32(env, argv[1], &r->to);
  napi_get_value_int64(env, argv[2], &limit);
  r->limit = limit > 0 ? (size_t)limit : 0;
  pthread_mutex_init(&r->lock, NULL);
  napi_value name;
  napi_create_string_utf8(env, "waypoint-relay", NAPI_AUTO_LENGTH, &name);
  // The relay object lives as long as the function does: freed with it, after the last call.
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, r, finalize_relay, r, call_js, &r->tsfn) != napi_ok) {
    pthread_mutex_destroy(&r->lock);
    free(r);
    return fail(env, EINVAL, "relay: napi_create_threadsafe_function");
  }
  napi_value handle;
  napi_create_external(env, r, finalize_relay, NULL, &handle);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, relay_thread, r);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    return fail(env, err, "relay: pthread_create");
  }
  // A relay must not keep the process alive by itself: the app's end does.
  napi_unref_threadsafe_function(env, r->tsfn);
  return handle;
}

// relayBusy(handle): whether bytes read from the app still wait to be written to our output
// (whoever reads it is slow): not the moment to exit.
napi_value relay_busy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct relay *r = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, NULL, "relayBusy(handle)");
    return NULL;
  }
  napi_value result;
  napi_get_boolean(env, __atomic_load_n(&r->writing, __ATOMIC_ACQUIRE), &result);
  return result;
}
