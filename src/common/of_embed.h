/*
 * of_embed: the schema files of schemas/ compiled into the binaries.
 *
 * the .avsc files of schemas/avro and the NNN_name.sql files of schemas/sql are the only copies of the
 * wire and table formats; cmake/embed.cmake turns them into C arrays at build
 * time so no binary has to find them on disk. Each table is sorted by file
 * name and ends with an entry whose name is NULL. Every data block is
 * NUL-terminated (len does not count the NUL).
 */
#ifndef OF_EMBED_H
#define OF_EMBED_H

#include <stddef.h>

struct of_embedded {
    const char *name; /* file name without directory, e.g. "001_init.sql" */
    const char *data;
    size_t len;
};

extern const struct of_embedded of_embedded_avro[];
extern const struct of_embedded of_embedded_sql[];
/* orderflow-api only: src/producer-api/admin/ and the OpenAPI document */
extern const struct of_embedded of_embedded_admin[];
extern const struct of_embedded of_embedded_openapi[];

/**
 * @brief Find an embedded file by name in \p table.
 * @returns the entry (borrowed, static) or NULL.
 */
const struct of_embedded *of_embed_find(const struct of_embedded *table,
                                        const char *name);

#endif
