/*
 * Unit tests of of_log: JSON lines with their fields, the text format, and
 * SIGHUP reopening a rotated file. of_log keeps process-wide state, so the
 * tests run in order on one log file in a temporary directory.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "of_log.h"

static char dir[] = "/tmp/of_log_test.XXXXXX";
static char path[256], rotated[256];

/* The whole of \p file, NUL-terminated (malloc()ed), or NULL if absent. */
static char *slurp(const char *file)
{
    FILE *f = fopen(file, "r");
    char *buf;
    long len;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return buf;
}

/* The last line of \p file parsed as JSON (fails the test if it is not). */
static json_t *last_json_line(const char *file)
{
    char *text = slurp(file), *line;
    json_error_t jerr;
    json_t *obj;

    assert_non_null(text);
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    text[strlen(text) - 1] = '\0';
    line = strrchr(text, '\n');
    line = line ? line + 1 : text;
    obj = json_loads(line, 0, &jerr);
    if (!obj)
        fail_msg("not JSON: %s (%s)", line, jerr.text);
    free(text);
    return obj;
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/test.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/test.log.1", dir);
    return of_log_init("test-proc", OF_LOG_INFO, 1, path);
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    unlink(rotated);
    rmdir(dir);
    return 0;
}

/* time, level, process, pid and trace_id, the message whole, and each
 * key=value word as a field of its own; quotes and control characters
 * escaped; the reserved names stay in msg only. */
static void json_line_has_fields(void **state)
{
    json_t *o;
    (void)state;

    of_log_set_trace("4bf92f3577b34da6a3ce929d0e0e4736");
    of_info("applied OrderPaid command_id=%s order_id=%d version=%d "
            "note=a\"b\tc level=x",
            "7b0c1c1e-6d9e-4f7e-9a55-1f0e6f2f3a10", 12, 3);
    o = last_json_line(path);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "process")),
                        "test-proc");
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), getpid());
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(strlen(json_string_value(json_object_get(o, "time"))),
                     strlen("2026-11-29T13:05:03.123Z"));
    assert_string_equal(json_string_value(json_object_get(o, "command_id")),
                        "7b0c1c1e-6d9e-4f7e-9a55-1f0e6f2f3a10");
    assert_string_equal(json_string_value(json_object_get(o, "order_id")), "12");
    assert_string_equal(json_string_value(json_object_get(o, "version")), "3");
    assert_string_equal(json_string_value(json_object_get(o, "note")),
                        "a\"b\tc");
    assert_non_null(strstr(json_string_value(json_object_get(o, "msg")),
                           "applied OrderPaid command_id="));
    json_decref(o);

    /* below the level: nothing written; no trace: no trace_id */
    of_log_set_trace(NULL);
    of_debug("not written key=1");
    of_warn("plain message");
    o = last_json_line(path);
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "plain message");
    assert_null(json_object_get(o, "trace_id"));
    assert_null(json_object_get(o, "key"));
    json_decref(o);
}

/* logrotate moves the file and sends SIGHUP: the next line goes to a new
 * file at the old path, and nothing written before is lost. */
static void sighup_reopens_the_file(void **state)
{
    char *old, *fresh;
    json_t *o;
    (void)state;

    of_log_reopen_on_sighup();
    of_info("before rotation n=1");
    assert_int_equal(rename(path, rotated), 0);
    of_info("after rename, before SIGHUP n=2"); /* still the moved file */
    assert_int_equal(raise(SIGHUP), 0);
    of_info("after SIGHUP n=3");

    old = slurp(rotated);
    fresh = slurp(path);
    assert_non_null(old);
    assert_non_null(fresh);
    assert_non_null(strstr(old, "before rotation"));
    assert_non_null(strstr(old, "after rename, before SIGHUP"));
    assert_null(strstr(old, "after SIGHUP"));
    assert_null(strstr(fresh, "before"));
    o = last_json_line(path);
    assert_string_equal(json_string_value(json_object_get(o, "n")), "3");
    json_decref(o);
    free(old);
    free(fresh);
}

/* The text format: time, level, process[pid]: message, then trace_id. */
static void text_line_format(void **state)
{
    char *text, *line;
    (void)state;

    assert_int_equal(of_log_init("text-proc", OF_LOG_DEBUG, 0, path), 0);
    of_log_set_trace("abc123");
    of_debug("hello key=value");
    of_log_set_trace(NULL);
    text = slurp(path);
    assert_non_null(text);
    line = strstr(text, "debug text-proc[");
    assert_non_null(line);
    assert_non_null(strstr(line, "]: hello key=value trace_id=abc123\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_line_has_fields),
        cmocka_unit_test(sighup_reopens_the_file),
        cmocka_unit_test(text_line_format),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
