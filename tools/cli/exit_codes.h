/* exit_codes.h - the exit code of a command that waited for a job: one per
 * final status, so a shell script can tell a timeout from a crash. */
#ifndef SANDQ_CLI_EXIT_CODES_H
#define SANDQ_CLI_EXIT_CODES_H

/* 0 for succeeded, 10..19 for the other final statuses (docs/cli.md);
 * EXIT_ERROR for a status that is not final or not known. */
int exit_code_for_status(const char *status);

#endif
