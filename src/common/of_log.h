/*
 * of_log: one line per event on stderr (or a file), text for a terminal or
 * JSON lines for machines.
 *
 * of_log() is a macro that skips formatting below the configured level (as
 * redis serverLog). Program output (what a user asked for) goes to stdout
 * with printf, never through here. Never pass a token, password or API key:
 * nothing in this module can tell a secret from a message.
 *
 * Fields go into the message as key=value words ("applied OrderPaid
 * command_id=... order_id=12 version=2"): the text format shows them as
 * they are, and the JSON format also gives each its own string field, next
 * to time, level, process, pid, trace_id and msg.
 */
#ifndef OF_LOG_H
#define OF_LOG_H

enum of_log_level {
    OF_LOG_DEBUG = 0,
    OF_LOG_INFO = 1,
    OF_LOG_WARN = 2,
    OF_LOG_ERROR = 3,
};

extern int of_log_min_level;

#define of_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) >= of_log_min_level)                                       \
            of_log_write((level), __VA_ARGS__);                                \
    } while (0)

#define of_debug(...) of_log(OF_LOG_DEBUG, __VA_ARGS__)
#define of_info(...)  of_log(OF_LOG_INFO, __VA_ARGS__)
#define of_warn(...)  of_log(OF_LOG_WARN, __VA_ARGS__)
#define of_error(...) of_log(OF_LOG_ERROR, __VA_ARGS__)

/**
 * @brief Set the process name, level and format for every later line.
 * @param file path to append to, or NULL/"" for stderr.
 * @returns 0, or -1 if \p file cannot be opened (logging stays on stderr).
 * @locality main thread, before other threads start.
 */
int of_log_init(const char *process, int level, int json, const char *file);

/** @brief Reopen the log file (SIGHUP, for logrotate); no-op on stderr. */
void of_log_reopen(void);

/**
 * @brief Make SIGHUP reopen the log file: the handler only sets a flag, and
 *        the next line logged (by any thread) reopens the file first, so a
 *        rotated file is let go of as soon as there is something to write.
 * @locality main thread, before other threads start.
 */
void of_log_reopen_on_sighup(void);

/* A trace id is at most this long (the Avro schemas' and outbox's 128). */
#define OF_LOG_TRACE_MAX 128

/**
 * @brief Set this thread's trace id, added to each line it logs (NULL clears).
 * @locality per thread.
 */
void of_log_set_trace(const char *trace_id);

/** @returns the level for "debug", "info", "warn", "error", or -1. */
int of_log_level_parse(const char *name);

/** @brief Write one line; use the of_log() macro instead. */
void of_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
