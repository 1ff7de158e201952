// The app's output relayed by a thread of its own, off the JavaScript thread: read from the
// app's pipe, write to our stdout or stderr at once (the app waits only for whoever reads our
// output, as under tini), and hand a copy to JavaScript for log capture. The copy never holds
// the relay back: when JavaScript has more than its limit still to take, what does not fit is
// dropped and counted (bytes, lines, whether it ended mid-line), and everything after it too
// until JavaScript took what it had, so that a batch is always "data, then the gap after it".
// The copy goes to two buffers of the limit's size, made once: the thread fills one while
// JavaScript reads the other (during its call only), then they swap. JavaScript sees each
// through one Buffer made at the start, not a new one per batch: a burst of 100 MB cost
// 100 MB of new memory for V8 to account and collect (several full GCs), and fresh pages.
//
// Without copies where Linux allows (a burst): tee(2) duplicates what the app wrote into a pipe
// of the relay's own, splice(2) moves the same bytes on to our output, and capture reads its
// copy from that pipe. One copy of each byte in this process instead of three (read, write,
// capture's memcpy). Only for SPLICE_MIN bytes or more at once: spliced pages go on whole, so a
// trickle of lines spliced one by one would fill our reader's pipe with nearly empty pages
// (its capacity counts pages) where written bytes share them. Where splice does not apply
// (EINVAL: a file opened for appending, a terminal on some kernels), the relay reads and writes, as
// it does for small reads, for good.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "posix.h"

#define READ_BYTES (256 * 1024)
// What stays in memory of a buffer after a batch: the rest goes back to the kernel, so that
// a burst does not leave megabytes behind for the process's life.
#define WARM_BYTES (1024 * 1024)
// JavaScript is called once this much is waiting, or this long after the first byte of a batch:
// a call per read (a burst of 100 MB was ~7 400 of them, each a wake-up of the JavaScript
// thread and its fixed costs) took CPU from the app on a small machine. Shipping batches lines
// for 50 ms anyway; a few ms more is nothing to it. While a write to our slow reader blocks,
// the batch due meanwhile waits for it too, as the bytes being written always did (they are
// copied once written): capture then trails our output by those few ms more.
#define NOTIFY_BYTES (256 * 1024)
#define NOTIFY_DELAY_MS 4
#define SPLICE_MIN (64 * 1024)
// Interrupt moderation. An app that writes its lines one write(2) each into a pipe whose reader
// sleeps in read(2) pays for waking that reader in its own write, once per line: 1 M lines of
// 100 B took the app 1.25x its time into /dev/null through a reader that read at once, and
// 0.93x through one that rested 200 us after each sizeable read (scripts/bench/logs.mjs shows
// the app through a plain `cat` beside it under us). So after a sizeable read that emptied the
// app's pipe, the thread rests before reading again: meanwhile the app writes into a pipe
// nobody waits on, and the next read takes its lines by the hundred. A read is "sizeable" at
// COALESCE_MIN bytes, or when its bytes were already there or came within BUSY_US of our
// asking: on a busy machine a writer a little slower than our thread keeps every read small,
// each one a wake-up (the relay test saw 26 651 reads for 100 000 writes in a loaded CI run
// with the size rule alone). A trickle (an interactive app, a line now and then) is still read
// the moment it comes. The rest is short enough that a writer at 1 GB/s fills at most half the
// pipe meanwhile (never blocks on us), and never more than REST_MAX_US.
#define COALESCE_MIN 4096
#define BUSY_US 100
#define REST_MAX_US 200

struct relay {
  int from, to;
  size_t limit;
  napi_threadsafe_function tsfn;
  pthread_mutex_t lock;
  // The two buffers (limit bytes each, mapped, touched only as used) and JavaScript's views.
  char *bufs[2];
  napi_ref views[2];
  // Guarded by lock: the batch JavaScript has not taken yet, in bufs[fill].
  int fill;
  size_t len;
  int64_t gap_bytes, gap_lines;
  int gap_mid_line;
  int notified; // a call to JavaScript is queued and will take the batch
  int64_t due_ms; // when a batch not yet notified must be, on the monotonic clock (0: none)
  int ended;
  int end_errno; // 0 at EOF, else the read or write error that ended the relay
  // Set while bytes read from the app wait to be written out (our reader may be stalled).
  int writing;
  // Bytes that went to our output by splice and by write, and the reads and gulps of the app's
  // pipe that took them (relayStats), atomics.
  int64_t spliced, written, reads;
  // The tee pipe: capture's copy of spliced bytes waits there, one gulp at a time. Made with
  // the relay, not by its thread: our fds are all there once relay() returns. -1: no splicing.
  int tee_pipe[2];
  // Two owners: the thread's side (its threadsafe function) and JavaScript's handle.
  int refs;
};

static void unref_relay(struct relay *r) {
  if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  pthread_mutex_destroy(&r->lock);
  for (int i = 0; i < 2; i++) {
    if (r->bufs[i]) munmap(r->bufs[i], r->limit);
  }
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

static int64_t monotonic_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int64_t monotonic_ms(void) {
  return monotonic_us() / 1000;
}

// Called with the lock held: make sure JavaScript will come for the batch.
static void notify_locked(struct relay *r) {
  r->due_ms = 0;
  if (r->notified) return;
  r->notified = 1;
  napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
}

// Called with the lock held, after a copy or a gap: JavaScript now, or by the delay.
static void notify_soon_locked(struct relay *r) {
  if (r->notified) return;
  if (r->len >= NOTIFY_BYTES || r->len >= r->limit / 2 || r->gap_bytes > 0) notify_locked(r);
  else if (r->due_ms == 0) r->due_ms = monotonic_ms() + NOTIFY_DELAY_MS;
}

// The thread waits for the app's next bytes at most until a batch is due: -1 (no batch
// waits), else ms.
static int wait_ms(struct relay *r) {
  pthread_mutex_lock(&r->lock);
  int64_t due = r->notified ? 0 : r->due_ms;
  pthread_mutex_unlock(&r->lock);
  if (due == 0) return -1;
  int64_t left = due - monotonic_ms();
  return left > 0 ? (int)left : 0;
}

// Nothing came by the time the batch was due: JavaScript takes what there is.
static void notify_due(struct relay *r) {
  pthread_mutex_lock(&r->lock);
  if (!r->notified && r->due_ms != 0) notify_locked(r);
  pthread_mutex_unlock(&r->lock);
}

static void keep_copy(struct relay *r, const char *p, size_t n) {
  pthread_mutex_lock(&r->lock);
  int fits = r->gap_bytes == 0 && r->len + n <= r->limit;
  if (fits) {
    memcpy(r->bufs[r->fill] + r->len, p, n);
    r->len += n;
  } else {
    r->gap_bytes += (int64_t)n;
    r->gap_lines += (int64_t)count_newlines(p, n);
    r->gap_mid_line = p[n - 1] != '\n';
  }
  notify_soon_locked(r);
  pthread_mutex_unlock(&r->lock);
}

// Exactly `n` bytes from `fd` into `p` (they are known to be there); errno when it cannot.
static int read_exactly(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, p, n);
    if (got > 0) {
      p += got;
      n -= (size_t)got;
    } else if (got == 0) {
      return EIO; // cannot be: the bytes were counted in the pipe
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

// Capture's copy of `n` bytes that wait in the tee pipe: into the batch when it fits, else read
// to count the gap's lines, as keep_copy does.
static int keep_from_pipe(struct relay *r, int tee_out, char *scratch, size_t n) {
  int err = 0;
  pthread_mutex_lock(&r->lock);
  if (r->gap_bytes == 0 && r->len + n <= r->limit) {
    err = read_exactly(tee_out, r->bufs[r->fill] + r->len, n);
    if (err == 0) r->len += n;
    notify_soon_locked(r);
    pthread_mutex_unlock(&r->lock);
    return err;
  }
  pthread_mutex_unlock(&r->lock);
  err = read_exactly(tee_out, scratch, n);
  if (err == 0) keep_copy(r, scratch, n); // counted as a gap there (or fits by now)
  return err;
}

// The first `n` bytes of the app's pipe to our output by splice, waiting for room when our
// output is non-blocking. 0, or an errno; with EINVAL (our output takes no splice) `*left` says
// how many of the `n` were not moved, for the caller to write.
static int splice_all(struct relay *r, size_t n, size_t *left) {
  while (n > 0) {
    ssize_t m = splice(r->from, NULL, r->to, NULL, n, SPLICE_F_MOVE);
    if (m > 0) {
      n -= (size_t)m;
      __atomic_add_fetch(&r->spliced, m, __ATOMIC_RELAXED);
    } else if (m < 0 && errno == EAGAIN) {
      struct pollfd pfd = {r->to, POLLOUT, 0};
      poll(&pfd, 1, -1);
    } else if (m < 0 && errno == EINVAL) {
      *left = n;
      return EINVAL;
    } else if (m < 0 && errno != EINTR) {
      return errno;
    } else if (m == 0) {
      return EIO; // cannot be: the bytes were in the pipe
    }
  }
  return 0;
}

// One gulp of SPLICE_MIN bytes or more (`avail` in the app's pipe) without copies: tee, splice,
// then capture's copy from the tee pipe. Returns 0, an errno that ends the relay, or -1: splice
// does not apply here (what was taken went out by write), read and write from now on.
static int relay_spliced(struct relay *r, int tee_pipe[2], char *scratch, size_t avail) {
  size_t want = avail < READ_BYTES ? avail : READ_BYTES;
  ssize_t t;
  do t = tee(r->from, tee_pipe[1], want, 0);
  while (t < 0 && errno == EINTR);
  if (t <= 0) return -1; // tee refused (or took nothing): nothing taken, the plain way
  size_t left = 0;
  __atomic_store_n(&r->writing, 1, __ATOMIC_RELEASE);
  int err = splice_all(r, (size_t)t, &left);
  int plain = 0;
  if (err == EINVAL) {
    // Our output takes no splice (a file opened for appending, some terminals): the rest of these
    // bytes by read and write, and all that follows too.
    plain = 1;
    err = read_exactly(r->from, scratch, left);
    if (err == 0) err = write_all(r->to, scratch, left);
    if (err == 0) __atomic_add_fetch(&r->written, (int64_t)left, __ATOMIC_RELAXED);
  }
  if (err != 0) {
    __atomic_store_n(&r->writing, 0, __ATOMIC_RELEASE);
    return err;
  }
  int kept = keep_from_pipe(r, tee_pipe[0], scratch, (size_t)t);
  __atomic_store_n(&r->writing, 0, __ATOMIC_RELEASE); // only once the batch holds them (relayBusy)
  if (kept != 0) return kept;
  return plain ? -1 : 0;
}

static void close_tee_pipe(struct relay *r) {
  for (int i = 0; i < 2; i++) {
    if (r->tee_pipe[i] >= 0) close(r->tee_pipe[i]);
    r->tee_pipe[i] = -1;
  }
}

// How long the thread rests after a sizeable read (COALESCE_MIN): 0 when `fd` is no pipe.
static long rest_us_for(int fd) {
  int capacity = fcntl(fd, F_GETPIPE_SZ);
  if (capacity <= 0) return 0;
  long us = capacity / 2000; // half the pipe at 1 GB/s (1 000 bytes a microsecond)
  return us < REST_MAX_US ? us : REST_MAX_US;
}

static void rest(long us) {
  struct timespec t = {0, us * 1000};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

static void *relay_thread(void *arg) {
  struct relay *r = arg;
  char *buf = malloc(READ_BYTES);
  int err = buf ? 0 : ENOMEM;
  int *tee_pipe = r->tee_pipe;
  int splicing = tee_pipe[0] >= 0;
  long rest_us = rest_us_for(r->from);
  int64_t asked_at = monotonic_us(); // when the thread last went for more bytes
  while (err == 0) {
    int wait = wait_ms(r);
    if (wait >= 0) {
      struct pollfd pfd = {r->from, POLLIN, 0};
      int ready = poll(&pfd, 1, wait);
      if (ready == 0) {
        notify_due(r);
        continue;
      }
      if (ready < 0 && errno == EINTR) continue;
      // readable, or an error that read reports
    }
    int avail = 0;
    if (splicing && ioctl(r->from, FIONREAD, &avail) == 0 && avail >= SPLICE_MIN) {
      __atomic_add_fetch(&r->reads, 1, __ATOMIC_RELAXED);
      int done = relay_spliced(r, tee_pipe, buf, (size_t)avail);
      if (done == -1) splicing = 0;
      else err = done;
      if (err == 0 && rest_us > 0 && avail <= READ_BYTES) rest(rest_us); // the pipe emptied: rest
      asked_at = monotonic_us();
      continue;
    }
    ssize_t n = read(r->from, buf, READ_BYTES);
    if (n == 0) break;
    if (n < 0) {
      if (errno != EINTR) err = errno;
      continue;
    }
    __atomic_add_fetch(&r->reads, 1, __ATOMIC_RELAXED);
    int busy = n >= COALESCE_MIN || monotonic_us() - asked_at < BUSY_US;
    // Our output first: the app is never held up by log capture.
    __atomic_store_n(&r->writing, 1, __ATOMIC_RELEASE);
    err = write_all(r->to, buf, (size_t)n);
    if (err == 0) __atomic_add_fetch(&r->written, n, __ATOMIC_RELAXED);
    keep_copy(r, buf, (size_t)n);
    __atomic_store_n(&r->writing, 0, __ATOMIC_RELEASE); // only once the batch holds them (relayBusy)
    // A sizeable read that emptied the pipe: the app is busy writing, rest and take more at once.
    if (err == 0 && rest_us > 0 && busy && n < READ_BYTES) rest(rest_us);
    asked_at = monotonic_us();
  }
  free(buf);
  close_tee_pipe(r);
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

// On the JavaScript thread: the batch, as (buffer | null, length, gapBytes, gapLines,
// gapMidLine, ended, errno) to the callback; the batch is buffer[0, length), valid during the
// call only (the thread fills that buffer again after the next swap).
static void call_js(napi_env env, napi_value callback, void *context, void *unused) {
  (void)unused;
  struct relay *r = context;
  if (env == NULL) return;
  pthread_mutex_lock(&r->lock);
  int taken = r->fill;
  size_t len = r->len;
  int64_t gap_bytes = r->gap_bytes, gap_lines = r->gap_lines;
  int gap_mid_line = r->gap_mid_line, ended = r->ended, end_errno = r->end_errno;
  r->fill ^= 1;
  r->len = 0;
  r->gap_bytes = r->gap_lines = 0;
  r->gap_mid_line = 0;
  r->notified = 0;
  pthread_mutex_unlock(&r->lock);

  napi_value argv[7], undefined;
  if (len == 0 || napi_get_reference_value(env, r->views[taken], &argv[0]) != napi_ok) napi_get_null(env, &argv[0]);
  napi_create_double(env, (double)len, &argv[1]);
  napi_create_double(env, (double)gap_bytes, &argv[2]);
  napi_create_double(env, (double)gap_lines, &argv[3]);
  napi_get_boolean(env, gap_mid_line, &argv[4]);
  napi_get_boolean(env, ended, &argv[5]);
  napi_create_int32(env, end_errno, &argv[6]);
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, callback, 7, argv, NULL);
  // JavaScript is done with it: past its warm part, the pages go back (they read as zeros).
  if (len > WARM_BYTES) madvise(r->bufs[taken] + WARM_BYTES, len - WARM_BYTES, MADV_DONTNEED);
}

static void finalize_view(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  unref_relay(hint);
}

// The two buffers, mapped (pages come as they are first written) and seen by JavaScript
// through one Buffer each for the relay's life. 0 or an errno.
static int make_buffers(napi_env env, struct relay *r) {
  if (r->limit == 0) return 0;
  for (int i = 0; i < 2; i++) {
    void *p = mmap(NULL, r->limit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return errno;
    r->bufs[i] = p;
  }
  for (int i = 0; i < 2; i++) {
    napi_value view;
    if (napi_create_external_buffer(env, r->limit, r->bufs[i], finalize_view, r, &view) != napi_ok) return EINVAL;
    __atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL); // the view's, released by finalize_view
    if (napi_create_reference(env, view, 1, &r->views[i]) != napi_ok) return EINVAL;
  }
  return 0;
}

static void finalize_relay(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  unref_relay(data);
}

// Our references to the views: without them the Buffers go with JavaScript's last use.
static void drop_views(napi_env env, struct relay *r) {
  for (int i = 0; i < 2; i++) {
    if (r->views[i]) napi_delete_reference(env, r->views[i]);
    r->views[i] = NULL;
  }
}

// The thread's side is over (its last batch delivered): the views are no longer ours to keep.
static void finalize_thread(napi_env env, void *data, void *hint) {
  (void)hint;
  drop_views(env, data);
  unref_relay(data);
}

static napi_value fail(napi_env env, int err, const char *what) {
  char text[160];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, text);
  return NULL;
}

// relay(fromFd, toFd, copyLimitBytes, onBatch): starts the thread and returns its handle; from
// then on `fromFd` is the thread's (it closes it at the end). onBatch(buffer, length, gapBytes,
// gapLines, gapMidLine, ended, errno) is called on this thread for each batch (buffer[0, length),
// valid during the call), the last one with ended true.
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
  // Owners: this call while it sets up, each view (make_buffers), then the thread's side and
  // JavaScript's handle.
  r->refs = 1;
  int64_t limit = 0;
  napi_get_value_int32(env, argv[0], &r->from);
  napi_get_value_int32(env, argv[1], &r->to);
  napi_get_value_int64(env, argv[2], &limit);
  r->limit = limit > 0 ? (size_t)limit : 0;
  pthread_mutex_init(&r->lock, NULL);
  r->tee_pipe[0] = r->tee_pipe[1] = -1;
  if (r->limit > 0 && pipe2(r->tee_pipe, O_CLOEXEC) == 0) fcntl(r->tee_pipe[1], F_SETPIPE_SZ, READ_BYTES);
  int made = make_buffers(env, r);
  if (made != 0) {
    close_tee_pipe(r);
    drop_views(env, r);
    unref_relay(r);
    return fail(env, made, "relay: the capture buffers");
  }
  napi_value name;
  napi_create_string_utf8(env, "waypoint-relay", NAPI_AUTO_LENGTH, &name);
  // The relay object lives as long as the function does: freed with it, after the last call.
  __atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, r, finalize_thread, r, call_js, &r->tsfn) != napi_ok) {
    close_tee_pipe(r);
    drop_views(env, r);
    __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
    unref_relay(r);
    return fail(env, EINVAL, "relay: napi_create_threadsafe_function");
  }
  napi_value handle;
  __atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
  napi_create_external(env, r, finalize_relay, NULL, &handle);
  unref_relay(r); // set up: the thread's side and the handle hold it now
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, relay_thread, r);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    close_tee_pipe(r);
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    return fail(env, err, "relay: pthread_create");
  }
  // A relay must not keep the process alive by itself: the app's end does.
  napi_unref_threadsafe_function(env, r->tsfn);
  return handle;
}

// The relay a handle (relay()'s result) stands for, or NULL with a TypeError thrown.
static struct relay *relay_arg(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct relay *r = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return r;
}

// relayBusy(handle): whether bytes read from the app still wait to be written to our output
// (whoever reads it is slow) or to be handed to JavaScript: not the moment to exit.
napi_value relay_busy(napi_env env, napi_callback_info info) {
  struct relay *r = relay_arg(env, info, "relayBusy(handle)");
  if (r == NULL) return NULL;
  // Busy while bytes are being written out, and while a batch of them waits for JavaScript:
  // once a write blocked on our slow reader ends, the batch it leaves is due a few ms later,
  // and until it is delivered the relay is not idle (a caller waiting for quiet must not take
  // that moment for the end of the output).
  int busy = __atomic_load_n(&r->writing, __ATOMIC_ACQUIRE);
  if (!busy) {
    pthread_mutex_lock(&r->lock);
    busy = !r->ended && (r->len > 0 || r->gap_bytes > 0 || r->notified);
    pthread_mutex_unlock(&r->lock);
  }
  napi_value result;
  napi_get_boolean(env, busy, &result);
  return result;
}

// relayStats(handle): {spliced, written, reads}, the bytes that went to our output by splice
// and by write so far, and the reads of the app's pipe that took them (which way the relay
// took, and how many wake-ups: tests and benches).
napi_value relay_stats(napi_env env, napi_callback_info info) {
  struct relay *r = relay_arg(env, info, "relayStats(handle)");
  if (r == NULL) return NULL;
  napi_value result, spliced, written, reads;
  napi_create_object(env, &result);
  napi_create_double(env, (double)__atomic_load_n(&r->spliced, __ATOMIC_RELAXED), &spliced);
  napi_create_double(env, (double)__atomic_load_n(&r->written, __ATOMIC_RELAXED), &written);
  napi_create_double(env, (double)__atomic_load_n(&r->reads, __ATOMIC_RELAXED), &reads);
  napi_set_named_property(env, result, "spliced", spliced);
  napi_set_named_property(env, result, "written", written);
  napi_set_named_property(env, result, "reads", reads);
  return result;
}
