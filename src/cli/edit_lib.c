/* libedit loaded when the REPL starts (edit_lib.h), by the soname the build
 * found (CR_LIBEDIT_SONAME, from the library pkg-config names). */
#include "cli/edit_lib.h"

CR_LAZY_LIB_DEFINE(cr_edit, cr_edit_lib_load, CR_LIBEDIT_SONAME, CR_EDIT_SYMBOLS)
