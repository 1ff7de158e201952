// Log capture's hot loop in C: complete lines of the app's output encoded as LogBatch.Entry
// messages (src/logs/wire.ts has the format) straight into the open batch, one call per batch
// instead of several calls into Node per line (indexOf, two copies, isUtf8). Only the plain
// case is taken here: a complete line of at most maxLine bytes that is valid UTF-8 and fits;
// at any other line it stops and JavaScript takes that one its own way (pieces, U+FFFD).
#include <stdint.h>
#include <string.h>

#include "posix.h"

#define TAG_FIELD2_LEN 0x12
#define TAG_FIELD3_VARINT 0x18

static size_t varint_length(uint64_t n) {
  size_t len = 1;
  while (n >= 0x80) {
    n >>= 7;
    len++;
  }
  return len;
}

static size_t write_varint(uint8_t *p, uint64_t n) {
  size_t i = 0;
  while (n >= 0x80) {
    p[i++] = (uint8_t)(n | 0x80);
    n >>= 7;
  }
  p[i++] = (uint8_t)n;
  return i;
}

// Whether p[0, n) is valid UTF-8 as Node's isUtf8 says (Unicode table 3-7: no overlong forms,
// no surrogates, nothing past U+10FFFF). ASCII, the usual case, eight bytes at a time.
static int valid_utf8(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t word;
      memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; // the range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return 0;
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return 0;
    for (size_t k = 2; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return 0;
    }
    i += len;
  }
  return 1;
}

// Where the ASCII from p[from] ends, looked at up to p[to]: `to`, or the start of the first
// 8-byte word with a byte >= 0x80 (or of the last bytes, checked one by one).
static size_t ascii_until(const uint8_t *p, size_t from, size_t to) {
  size_t i = from;
  for (; i + 32 <= to; i += 32) {
    uint64_t w[4];
    memcpy(w, p + i, 32);
    if (((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ULL) != 0) break;
  }
  for (; i < to; i++) {
    if (p[i] >= 0x80) return i;
  }
  return to;
}

// How much is checked for ASCII at a time, ahead of the lines that need it.
#define ASCII_WINDOW (64 * 1024)

static int get_buffer(napi_env env, napi_value value, uint8_t **data, size_t *len) {
  return napi_get_buffer_info(env, value, (void **)data, len) == napi_ok;
}

static int get_size(napi_env env, napi_value value, size_t *out) {
  int64_t n;
  if (napi_get_value_int64(env, value, &n) != napi_ok || n < 0) return 0;
  *out = (size_t)n;
  return 1;
}

// encodeLines(src, start, end, timestamp, source, out, outPos, stopAt, maxLine, state):
// the lines of src[start, end), each with its "\n", as entries at out[outPos...], until the
// batch holds stopAt bytes, the next entry does not fit in out, or the next line is not one
// this takes (no newline, longer than maxLine, invalid UTF-8). Returns how many lines it
// wrote; state (a Float64Array of 2) gets [next position in src, next in out].
napi_value encode_lines(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *src, *ts, *out;
  size_t src_len, ts_len, out_len, start, end, out_pos, stop_at, max_line;
  uint32_t source = 0;
  napi_typedarray_type type;
  size_t state_len;
  void *state;
  if (argc < 10 || !get_buffer(env, argv[0], &src, &src_len) || !get_size(env, argv[1], &start) ||
      !get_size(env, argv[2], &end) || !get_buffer(env, argv[3], &ts, &ts_len) ||
      napi_get_value_uint32(env, argv[4], &source) != napi_ok || !get_buffer(env, argv[5], &out, &out_len) ||
      !get_size(env, argv[6], &out_pos) || !get_size(env, argv[7], &stop_at) || !get_size(env, argv[8], &max_line) ||
      napi_get_typedarray_info(env, argv[9], &type, &state_len, &state, NULL, NULL) != napi_ok ||
      type != napi_float64_array || state_len < 2 || end > src_len || start > end || out_pos > out_len ||
      source > 127) {
    napi_throw_type_error(env, NULL, "encodeLines(src, start, end, timestamp, source, out, outPos, stopAt, maxLine, state: Float64Array)");
    return NULL;
  }
  size_t pos = start, lines = 0;
  size_t extra = source != 0 ? 2 : 0;
  // src[pos, ascii) is known to be ASCII, which is valid UTF-8: most lines need no check of their own.
  size_t ascii = start;
  while (pos < end && out_pos < stop_at) {
    const uint8_t *nl = memchr(src + pos, '\n', end - pos);
    if (nl == NULL) break;
    size_t line_len = (size_t)(nl + 1 - (src + pos));
    if (line_len > max_line) break;
    if (pos + line_len > ascii) {
      size_t window = pos + line_len > pos + ASCII_WINDOW ? pos + line_len : pos + ASCII_WINDOW;
      ascii = ascii_until(src, pos, window < end ? window : end);
    }
    if (pos + line_len > ascii && !valid_utf8(src + pos, line_len)) break;
    size_t body = ts_len + 1 + varint_length(line_len) + line_len + extra;
    if (out_pos + 1 + varint_length(body) + body > out_len) break;
    uint8_t *p = out + out_pos;
    *p++ = TAG_FIELD2_LEN;
    p += write_varint(p, body);
    memcpy(p, ts, ts_len);
    p += ts_len;
    *p++ = TAG_FIELD2_LEN;
    p += write_varint(p, line_len);
    memcpy(p, src + pos, line_len);
    p += line_len;
    if (extra) {
      *p++ = TAG_FIELD3_VARINT;
      *p++ = (uint8_t)source;
    }
    out_pos = (size_t)(p - out);
    pos += line_len;
    lines++;
  }
  ((double *)state)[0] = (double)pos;
  ((double *)state)[1] = (double)out_pos;
  napi_value result;
  napi_create_uint32(env, (uint32_t)lines, &result);
  return result;
}
