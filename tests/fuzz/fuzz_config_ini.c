/*
 * libFuzzer target: any text as an orderflow.ini (TESTPLAN,
 * fuzz_config_ini). Either a config or one error that names the file and a
 * line ("fuzz.ini:N: ..." with N within the text) and, unless the line
 * is not a line of INI (syntax error, too long), the key it is about;
 * nothing may crash or leak.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "of_config.h"

/* "fuzz.ini:<line>: <what>" with 1 <= line <= lines + 1 */
static void check_error(const char *msg, const char *text)
{
    static const char prefix[] = "fuzz.ini:";
    size_t lines = 1;
    const char *p;
    char *end;
    long line;

    for (p = text; *p; p++)
        lines += *p == '\n';
    FUZZ_CHECK(strncmp(msg, prefix, sizeof(prefix) - 1) == 0, "\"%s\"", msg);
    p = msg + sizeof(prefix) - 1;
    FUZZ_CHECK(isdigit((unsigned char)*p), "no line number: \"%s\"", msg);
    line = strtol(p, &end, 10);
    FUZZ_CHECK(line >= 1 && (size_t)line <= lines + 1 && end[0] == ':' &&
                   end[1] == ' ' && end[2],
               "\"%s\" (%zu lines)", msg, lines);
    /* an error on a key quotes the key or names section.key */
    FUZZ_CHECK(strcmp(end + 2, "syntax error") == 0 ||
                   strncmp(end + 2, "line longer than ", 17) == 0 ||
                   strchr(end + 2, '"') ||
                   strchr(end + 2, '[') || strchr(end + 2, '.'),
               "\"%s\" names no key", msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    struct of_config *cfg;
    struct of_err err = {0};

    if (!text)
        return 0;
    cfg = of_config_load_string(text, "fuzz.ini", &err);
    if (!cfg)
        check_error(err.msg, text);
    of_config_destroy(cfg);
    free(text);
    return 0;
}
