/*
 * of_cli: what the three binaries' main() functions share: --config,
 * --version, and loading the config with one clear error line.
 */
#ifndef OF_CLI_H
#define OF_CLI_H

#include "of_config.h"

/**
 * @brief Remove "--config FILE" / "--config=FILE" from anywhere in argv.
 * @returns the file (borrowed from argv) or NULL; *argc is updated.
 *          Exits 2 with a message if --config lacks its FILE.
 */
const char *of_cli_take_config(int *argc, char **argv, const char *process);

/** @returns 1 if argv holds \p flag before any "--". */
int of_cli_has(int argc, char **argv, const char *flag);

/** @brief Print "PROCESS VERSION" and the library versions to stdout. */
void of_cli_version(const char *process);

/**
 * @brief Load the config and apply its [log] settings.
 * @returns the config, or NULL after printing "PROCESS: error" to stderr.
 */
struct of_config *of_cli_config(const char *path, const char *process);

#endif
