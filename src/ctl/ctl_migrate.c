/* orderflowctl migrate: apply pending schemas/sql files (CONTRACT §5). */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "of_db.h"

int ctl_migrate(struct of_config *cfg, int argc, char **argv)
{
    struct of_err err = {0};
    struct of_db *db;
    int applied = 0, rc;

    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0) {
            printf("usage: orderflowctl migrate\n"
                   "Applies the files of schemas/sql/ not yet recorded in "
                   "schema_migrations, in order.\n");
            return 0;
        }
        ctl_fail("migrate takes no arguments");
        return 2;
    }
    db = of_db_open(cfg, &err);
    if (!db) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    rc = of_db_migrate(db, &applied, &err);
    of_db_close(db);
    if (rc != OF_OK) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    printf("migrations applied: %d\n", applied);
    return 0;
}
