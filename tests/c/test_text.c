/* cr_text_escape: controls, DEL, C1, bidi controls and bytes that are not
 * UTF-8 become visible escapes; printable text and UTF-8 pass; output cut
 * only between whole characters or escapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "connrecipe/text.h"

static const char *escaped(const char *s, size_t len, unsigned flags) {
  static char out[1024];
  size_t used;
  size_t n = cr_text_escape(s, len, out, sizeof out - 1, flags, &used);
  assert_int_equal(used, len);
  out[n] = '\0';
  return out;
}
#define ESC(lit) escaped(lit, sizeof lit - 1, 0)

static void controls_become_escapes(void **state) {
  assert_string_equal(ESC("a\x1b[2Jb"), "a\\x1b[2Jb");
  assert_string_equal(ESC("\a\b\t\n\v\f\r"), "\\a\\b\\t\\n\\v\\f\\r");
  assert_string_equal(ESC("nul\0x"), "nul\\x00x");
  assert_string_equal(ESC("del\x7f"), "del\\x7f");
  assert_string_equal(ESC("\x1b]0;title\x07"), "\\x1b]0;title\\a");
}

static void unicode_controls_and_bad_bytes(void **state) {
  assert_string_equal(ESC("c1 \xc2\x9b" "31m"), "c1 \\xc2\\x9b31m"); /* U+009B, CSI */
  assert_string_equal(ESC("raw \x9b"), "raw \\x9b");                 /* the 8-bit CSI alone */
  assert_string_equal(ESC("bidi \xe2\x80\xae" "x"), "bidi \\xe2\\x80\\xaex");
  assert_string_equal(ESC("ls \xe2\x80\xa8"), "ls \\xe2\\x80\\xa8");
  assert_string_equal(ESC("bad \xff\xfe"), "bad \\xff\\xfe");
  assert_string_equal(ESC("overlong \xc0\xaf"), "overlong \\xc0\\xaf");
  assert_string_equal(ESC("surrogate \xed\xa0\x80"), "surrogate \\xed\\xa0\\x80");
  assert_string_equal(ESC("cut \xe2\x98"), "cut \\xe2\\x98");
}

static void printable_text_passes(void **state) {
  assert_string_equal(ESC("nginx: worker \\x2d caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\xa7"),
                      "nginx: worker \\x2d caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\xa7");
  const char *s = "plain text, caf\xc3\xa9";
  assert_int_equal(cr_text_clean_prefix(s, strlen(s), 0), strlen(s));
  assert_int_equal(cr_text_clean_prefix("ab\ncd", 5, 0), 2);
  assert_int_equal(cr_text_clean_prefix("ab\ncd", 5, CR_TEXT_KEEP_LINES), 5);
}

static void keep_lines_keeps_newline_and_tab_only(void **state) {
  const char s[] = "line 1\n\tline 2\r\x1b";
  assert_string_equal(escaped(s, sizeof s - 1, CR_TEXT_KEEP_LINES), "line 1\n\tline 2\\r\\x1b");
}

static void cut_between_whole_units(void **state) {
  char out[8];
  size_t used;
  /* "ab" fits, the 4-byte escape of ESC does not fit in the 3 bytes left */
  size_t n = cr_text_escape("ab\x1b", 3, out, 5, 0, &used);
  assert_int_equal(n, 2);
  assert_int_equal(used, 2);
  /* a 3-byte character is not split */
  n = cr_text_escape("a\xe2\x98\x83", 4, out, 3, 0, &used);
  assert_int_equal(n, 1);
  assert_int_equal(used, 1);
  /* the worst case: every byte a 4-byte escape */
  char big[4 * 64];
  char in[64];
  memset(in, 0x01, sizeof in);
  n = cr_text_escape(in, sizeof in, big, sizeof in * CR_TEXT_MAX_GROWTH, 0, &used);
  assert_int_equal(n, sizeof big);
  assert_int_equal(used, sizeof in);
}

static void a_c_string_escaped_and_terminated(void **state) {
  char out[64];
  cr_text_escape_cstr("a\033]0;t\007\n\t\\b\x7f", out, sizeof out);
  assert_string_equal(out, "a\\x1b]0;t\\a\\n\\t\\b\\x7f");
  cr_text_escape_cstr("C1 \xc2\x9b, not \xc3\xa9 or \xc3\x80", out, sizeof out);
  assert_string_equal(out, "C1 \\xc2\\x9b, not \xc3\xa9 or \xc3\x80");
  cr_text_escape_cstr("\033\033\033", out, 9); /* cut at a whole escape */
  assert_string_equal(out, "\\x1b\\x1b");
}

static void writes_to_a_stream(void **state) {
  char buf[64] = {0};
  FILE *f = fmemopen(buf, sizeof buf, "w");
  assert_non_null(f);
  assert_int_equal(cr_text_write(f, "x\x1b" "y\n", 4, CR_TEXT_KEEP_LINES), 0);
  fclose(f);
  assert_string_equal(buf, "x\\x1by\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(controls_become_escapes),
      cmocka_unit_test(unicode_controls_and_bad_bytes),
      cmocka_unit_test(printable_text_passes),
      cmocka_unit_test(keep_lines_keeps_newline_and_tab_only),
      cmocka_unit_test(cut_between_whole_units),
      cmocka_unit_test(a_c_string_escaped_and_terminated),
      cmocka_unit_test(writes_to_a_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
