/* orderflowctl topics create: the five topics of CONTRACT §4. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "of_kafka.h"

int ctl_topics(struct of_config *cfg, int argc, char **argv)
{
    struct of_err err = {0};
    int created = 0;

    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: orderflowctl topics create\n"
               "Creates the command, event and dead-letter topics with "
               "[topics] partitions\nand replication_factor; existing topics "
               "are left as they are.\n");
        return 0;
    }
    if (argc != 2 || strcmp(argv[1], "create") != 0) {
        ctl_fail("usage: orderflowctl topics create");
        return 2;
    }
    if (of_kafka_topics_create(cfg, &created, &err) != OF_OK) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    printf("topics created: %d (others existed)\n", created);
    return 0;
}
