/* libedit's readline interface for the REPL, loaded when the REPL starts
 * (core/lazy_lib.h): linking it (with libtinfo, libbsd and libmd) cost every
 * run ~0.4 ms, and only the interactive prompt edits lines. */
#ifndef CR_EDIT_LIB_H
#define CR_EDIT_LIB_H

#include <stdio.h>

#include <editline/readline.h>

#include "core/lazy_lib.h"

/* Every function called and variable set (a variable's field points at it). */
#define CR_EDIT_SYMBOLS(X)                                                                                     \
  X(add_history) X(read_history) X(write_history) X(stifle_history) X(using_history) X(rl_add_defun)          \
  X(rl_parse_and_bind) X(rl_callback_handler_install) X(rl_callback_handler_remove) X(rl_callback_read_char)  \
  X(rl_completion_matches) X(rl_forced_update_display) X(rl_readline_name) X(rl_basic_word_break_characters)  \
  X(rl_attempted_completion_function) X(rl_attempted_completion_over) X(rl_completion_append_character)

typedef struct {
  CR_EDIT_SYMBOLS(CR_LAZY_FIELD)
} cr_edit_lib;

/* Filled by cr_edit_lib_load; read only after it returned 0. */
extern cr_edit_lib cr_edit;

/* Loads libedit once per process. Returns 0, or -ELIBACC (the dynamic
 * linker's reason in *why when why is not NULL). */
int cr_edit_lib_load(const char **why);

#endif
