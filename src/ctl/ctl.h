/*
 * orderflowctl: one ctl_<subcommand>.c per subcommand; main.c dispatches.
 * Each subcommand gets the loaded config and its own argv (argv[0] is the
 * subcommand's name) and returns the process exit status: 0 done, 1 failed,
 * 2 bad usage.
 */
#ifndef CTL_H
#define CTL_H

#include "of_config.h"

int ctl_migrate(struct of_config *cfg, int argc, char **argv);
int ctl_topics(struct of_config *cfg, int argc, char **argv);
int ctl_token(struct of_config *cfg, int argc, char **argv);
int ctl_apikey(struct of_config *cfg, int argc, char **argv);
int ctl_rebuild(struct of_config *cfg, int argc, char **argv);
int ctl_replay(struct of_config *cfg, int argc, char **argv);
int ctl_dlq(struct of_config *cfg, int argc, char **argv);
int ctl_events(struct of_config *cfg, int argc, char **argv);

/** @brief Print "orderflowctl: fmt" to stderr. */
void ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
