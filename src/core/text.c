/* cr_text_escape: see include/connrecipe/text.h. A UTF-8 decoder that
 * accepts only what RFC 3629 allows (no overlong forms, no surrogates,
 * nothing above U+10FFFF); whatever it rejects is escaped byte by byte. */
#include <stdint.h>
#include <string.h>

#include "connrecipe/text.h"

/* The length of the well-formed UTF-8 sequence at s (at most n bytes), or 0;
 * its code point in *cp. */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  size_t len;
  uint32_t min, v;
  if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80, v = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800, v = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000, v = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = v << 6 | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

/* Unicode controls a terminal acts on: C1, the bidi embeddings, overrides
 * and isolates (they reorder what follows), the line and paragraph
 * separators. */
static int is_unicode_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

/* How many bytes at s pass as they are (0: the byte at s is escaped). */
static size_t passing(const unsigned char *s, size_t n, unsigned flags) {
  unsigned char c = s[0];
  if (c < 0x20 || c == 0x7f)
    return (flags & CR_TEXT_KEEP_LINES) && (c == '\n' || c == '\t') ? 1 : 0;
  if (c < 0x80) return 1;
  uint32_t cp;
  size_t len = utf8_sequence(s, n, &cp);
  return len && !is_unicode_control(cp) ? len : 0;
}

size_t cr_text_clean_prefix(const char *s, size_t len, unsigned flags) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    if (p[i] >= 0x20 && p[i] < 0x7f) { /* the common case, without a call */
      i++;
      continue;
    }
    size_t k = passing(p + i, len - i, flags);
    if (!k) break;
    i += k;
  }
  return i;
}

/* The escape of byte c: "\n" for the named controls, else "\xHH". */
static size_t escape_byte(unsigned char c, char out[4]) {
  static const char named[] = {['\a'] = 'a', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n',
                               ['\v'] = 'v', ['\f'] = 'f', ['\r'] = 'r'};
  static const char hex[] = "0123456789abcdef";
  out[0] = '\\';
  if (c < sizeof named && named[c]) {
    out[1] = named[c];
    return 2;
  }
  out[1] = 'x';
  out[2] = hex[c >> 4];
  out[3] = hex[c & 15];
  return 4;
}

size_t cr_text_escape(const char *s, size_t len, char *out, size_t cap, unsigned flags,
                      size_t *consumed) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, o = 0;
  while (i < len) {
    if (p[i] >= 0x20 && p[i] < 0x7f) { /* the common case, without a call */
      if (o == cap) break;
      out[o++] = (char)p[i++];
      continue;
    }
    size_t k = passing(p + i, len - i, flags);
    if (k) {
      if (o + k > cap) break;
      memcpy(out + o, p + i, k);
      o += k;
      i += k;
      continue;
    }
    /* a control: every byte of its sequence escaped; a stray byte alone */
    uint32_t cp;
    size_t seq = p[i] >= 0x80 ? utf8_sequence(p + i, len - i, &cp) : 0;
    if (!seq) seq = 1;
    char esc[4 * 4];
    size_t n = 0;
    for (size_t j = 0; j < seq; j++)
      n += escape_byte(p[i + j], esc + n);
    if (o + n > cap) break;
    memcpy(out + o, esc, n);
    o += n;
    i += seq;
  }
  *consumed = i;
  return o;
}

void cr_text_escape_cstr(const char *s, char *out, size_t outlen) {
  if (outlen == 0) return;
  size_t used;
  out[cr_text_escape(s, strlen(s), out, outlen - 1, 0, &used)] = '\0';
}

int cr_text_write(FILE *f, const char *s, size_t len, unsigned flags) {
  char buf[4096];
  while (len > 0) {
    size_t used;
    size_t n = cr_text_escape(s, len, buf, sizeof buf, flags, &used);
    if (fwrite(buf, 1, n, f) != n) return EOF;
    s += used;
    len -= used;
  }
  return 0;
}
