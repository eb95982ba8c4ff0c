/* of_cli: see of_cli.h. */
#include "of_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <mysql.h>

const char *of_cli_take_config(int *argc, char **argv, const char *process)
{
    const char *path = NULL;
    int out = 1;

    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "%s: --config needs a FILE\n", process);
                exit(2);
            }
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return path;
}

int of_cli_has(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], flag) == 0)
            return 1;
    }
    return 0;
}

void of_cli_version(const char *process)
{
    printf("%s %s (librdkafka %s, libmariadb %s, hiredis %d.%d.%d, "
           "jansson %s)\n",
           process, OF_VERSION, rd_kafka_version_str(),
           mysql_get_client_info(), HIREDIS_MAJOR, HIREDIS_MINOR,
           HIREDIS_PATCH, JANSSON_VERSION);
}

struct of_config *of_cli_config(const char *path, const char *process)
{
    struct of_err err = {0};
    struct of_config *cfg = of_config_load(path, &err);

    if (!cfg) {
        fprintf(stderr, "%s: %s\n", process, err.msg);
        return NULL;
    }
    if (of_config_apply_log(cfg, process, &err) != OF_OK) {
        fprintf(stderr, "%s: %s\n", process, err.msg);
        of_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}
