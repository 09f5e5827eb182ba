/* Text from the system made safe for a terminal: process names, command
 * lines, socket paths, namespace and host names are chosen by other users,
 * and their control bytes must not reach the screen (clearing it, setting
 * its title, forging table rows). One escaping, used by every text renderer:
 * C0 controls, DEL and C1 controls become visible escapes as ps and ss show
 * them (\n, \t, \x1b, \xc2\x9b), so do bytes that are not UTF-8 and the
 * Unicode controls that reorder or break a line (bidi overrides, U+2028/9).
 * Backslash itself is kept (unit names hold \x2d): the escaped text is for
 * reading, JSON is the exact form. */
#ifndef CONNRECIPE_TEXT_H
#define CONNRECIPE_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* Flags. CR_TEXT_KEEP_LINES: newline and tab are layout and pass (a message
 * or a report of several lines); every other control is escaped. */
#define CR_TEXT_KEEP_LINES 1u

/* One input byte becomes at most this many output bytes. */
#define CR_TEXT_MAX_GROWTH 4

/* The length of the longest prefix of s[0, len) that passes unescaped. */
size_t cr_text_clean_prefix(const char *s, size_t len, unsigned flags);

/* Escapes s[0, len) into out[0, cap): whole characters and escapes only, never
 * half of one. Returns the bytes written; *consumed gets the input bytes
 * taken (len when all fit; cap >= len * CR_TEXT_MAX_GROWTH always fits). */
size_t cr_text_escape(const char *s, size_t len, char *out, size_t cap, unsigned flags,
                      size_t *consumed);

/* Copies the NUL-terminated s escaped into out, NUL-terminated; cut at a
 * whole character or escape when out is too small. For a path in a message. */
void cr_text_escape_cstr(const char *s, char *out, size_t outlen);

/* Writes s[0, len) escaped to f. Returns what fwrite's failure would: 0 on
 * success, EOF when a write failed. */
int cr_text_write(FILE *f, const char *s, size_t len, unsigned flags);

#endif
