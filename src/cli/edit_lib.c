/* libedit loaded when the REPL starts (edit_lib.h), by the soname the build
 * found (CR_LIBEDIT_SONAME, from the library pkg-config names). */
#include "cli/edit_lib.h"

cr_edit_lib cr_edit;

static cr_lazy_lib libedit = CR_LAZY_LIB_INIT(CR_LIBEDIT_SONAME);
static const char *const names[] = {CR_EDIT_SYMBOLS(CR_LAZY_NAME)};

int cr_edit_lib_load(const char **why) {
  _Static_assert(CR_LAZY_COUNT(cr_edit) == sizeof names / sizeof names[0], "one name per field");
  return cr_lazy_lib_load(&libedit, names, &cr_edit, CR_LAZY_COUNT(cr_edit), why);
}
