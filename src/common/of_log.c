/*
 * of_log: see of_log.h.
 *
 * A line is formatted into a stack buffer and written with one write(2), so
 * lines from several threads never interleave (POSIX makes writes of up to
 * PIPE_BUF atomic on pipes; regular files opened O_APPEND behave the same).
 */
#include "of_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int of_log_min_level = OF_LOG_INFO;

static char log_process[32] = "orderflow";
static int log_json;
static int log_fd = STDERR_FILENO;
static char log_path[1024];
static pthread_mutex_t log_reopen_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local char log_trace[64];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int of_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0)
            return i;
    }
    return -1;
}

static int open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int of_log_init(const char *process, int level, int json, const char *file)
{
    snprintf(log_process, sizeof(log_process), "%s", process);
    of_log_min_level = level;
    log_json = json;
    if (!file || !*file)
        return 0;
    int fd = open_log_file(file);
    if (fd < 0)
        return -1;
    snprintf(log_path, sizeof(log_path), "%s", file);
    log_fd = fd;
    return 0;
}

void of_log_reopen(void)
{
    if (!log_path[0])
        return;
    pthread_mutex_lock(&log_reopen_lock);
    int fd = open_log_file(log_path);
    if (fd >= 0) {
        /* dup2 swaps the file under concurrent writers without a window in
         * which log_fd is closed */
        dup2(fd, log_fd);
        close(fd);
    }
    pthread_mutex_unlock(&log_reopen_lock);
}

void of_log_set_trace(const char *trace_id)
{
    snprintf(log_trace, sizeof(log_trace), "%s", trace_id ? trace_id : "");
}

/* Appends \p s to buf as the inside of a JSON string. */
static size_t json_escape(char *buf, size_t cap, size_t n, const char *s)
{
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    return n;
}

void of_log_write(int level, const char *fmt, ...)
{
    char msg[2048], line[4608], ts[40];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    if (level < OF_LOG_DEBUG || level > OF_LOG_ERROR)
        level = OF_LOG_ERROR;

    if (log_json) {
        n = (size_t)snprintf(line, sizeof(line),
                             "{\"time\":\"%s\",\"level\":\"%s\","
                             "\"process\":\"%s\",\"pid\":%d,",
                             ts, level_names[level], log_process, (int)getpid());
        if (log_trace[0]) {
            n += (size_t)snprintf(line + n, sizeof(line) - n,
                                  "\"trace_id\":\"");
            n = json_escape(line, sizeof(line), n, log_trace);
            n += (size_t)snprintf(line + n, sizeof(line) - n, "\",");
        }
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\"msg\":\"");
        n = json_escape(line, sizeof(line) - 3, n, msg);
        line[n++] = '"';
        line[n++] = '}';
    } else {
        n = (size_t)snprintf(line, sizeof(line), "%s %-5s %s[%d]: %s", ts,
                             level_names[level], log_process, (int)getpid(),
                             msg);
        if (n >= sizeof(line) - 1)
            n = sizeof(line) - 2;
        if (log_trace[0] && n < sizeof(line) - 2)
            n += (size_t)snprintf(line + n, sizeof(line) - n - 1,
                                  " trace_id=%s", log_trace);
        if (n >= sizeof(line) - 1)
            n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t w;
    do {
        w = write(log_fd, line, n);
    } while (w < 0 && errno == EINTR);
}
