/* PATH without the entries that mean "the current directory". */
#ifndef CONNRECIPE_CLI_EXEC_PATH_H
#define CONNRECIPE_CLI_EXEC_PATH_H

/* Removes the empty and relative entries of $PATH ("", ".", "bin"), which
 * make a program name found in whatever directory connrecipe runs from: nft
 * or ss planted in /tmp would run as root. Children inherit the result. */
void exec_path_drop_relative(void);

#endif
