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
#include <signal.h>
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
static _Thread_local char log_trace[OF_LOG_TRACE_MAX + 1];
/* set by SIGHUP (of_log_reopen_on_sighup), acted on by the next line */
static volatile sig_atomic_t log_reopen_wanted;

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

static void on_sighup(int sig)
{
    (void)sig;
    log_reopen_wanted = 1;
}

void of_log_reopen_on_sighup(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sighup;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);
}

void of_log_set_trace(const char *trace_id)
{
    snprintf(log_trace, sizeof(log_trace), "%s", trace_id ? trace_id : "");
}

/* Appends the first \p len bytes of \p s to buf as the inside of a JSON
 * string. */
static size_t json_escape_n(char *buf, size_t cap, size_t n, const char *s,
                            size_t len)
{
    for (; len > 0 && *s && n + 7 < cap; s++, len--) {
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

static size_t json_escape(char *buf, size_t cap, size_t n, const char *s)
{
    return json_escape_n(buf, cap, n, s, (size_t)-1);
}

static int is_key_char(char c, int first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

/* The fields a JSON line always has: a key=value of the message that
 * reuses one of these names stays in msg only. */
static int reserved_key(const char *k, size_t len)
{
    static const char *const names[] = {"time", "level", "process", "pid",
                                        "trace_id", "msg"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == len && memcmp(names[i], k, len) == 0)
            return 1;
    }
    return 0;
}

/*
 * Appends ,"key":"value" for each word of \p msg shaped key=value (key of
 * [a-z_][a-z0-9_]*, value up to the next space), so that the fields the
 * text format carries in its message (command_id=..., offset=...) are
 * fields of their own in JSON, for jq and log stores, without a second
 * logging API. The message itself is kept whole in "msg".
 */
static size_t json_fields(char *buf, size_t cap, size_t n, const char *msg)
{
    for (const char *p = msg; *p;) {
        const char *k = p, *eq, *v, *end;

        while (*p && *p != ' ')
            p++;
        end = p;
        while (*p == ' ')
            p++;
        if (!is_key_char(*k, 1))
            continue;
        for (eq = k + 1; eq < end && is_key_char(*eq, 0); eq++)
            ;
        if (eq >= end || *eq != '=' || reserved_key(k, (size_t)(eq - k)))
            continue;
        v = eq + 1;
        if (n + (size_t)(end - k) + 8 >= cap)
            break;
        buf[n++] = ',';
        buf[n++] = '"';
        memcpy(buf + n, k, (size_t)(eq - k));
        n += (size_t)(eq - k);
        buf[n++] = '"';
        buf[n++] = ':';
        buf[n++] = '"';
        n = json_escape_n(buf, cap - 2, n, v, (size_t)(end - v));
        buf[n++] = '"';
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
        n = json_fields(line, sizeof(line) - 2, n, msg);
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
    if (log_reopen_wanted) {
        log_reopen_wanted = 0;
        of_log_reopen();
    }
    ssize_t w;
    do {
        w = write(log_fd, line, n);
    } while (w < 0 && errno == EINTR);
}
