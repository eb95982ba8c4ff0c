/*
 * of_crc64: Avro schema fingerprints (CRC-64-AVRO of the Parsing Canonical
 * Form), as the Avro specification defines them for single-object encoding.
 *
 * avro-c 1.11.1 has neither the canonical form nor the fingerprint, so both
 * are here, written from the specification ("Parsing Canonical Form for
 * Schemas" and "Schema Fingerprints") and checked against the test vectors of
 * share/test/data/schema-tests.txt, which the Java implementation produces.
 *
 * Not a schema validator: it assumes text that avro-c accepts and rejects
 * only what it cannot put in canonical form. Not for hot paths either: it
 * runs when of_avro_new() loads the schemas.
 */
#ifndef OF_CRC64_H
#define OF_CRC64_H

#include <stddef.h>
#include <stdint.h>

#include "of_err.h"

/**
 * @brief CRC-64-AVRO (Rabin, EMPTY = 0xc15d213aa4d7a795) of \p len bytes.
 * @returns the fingerprint; for a schema, hash its Parsing Canonical Form.
 * @locality any thread.
 */
uint64_t of_crc64_avro(const void *buf, size_t len);

/**
 * @brief Transform the JSON schema text \p json (\p len bytes) into its
 *        Parsing Canonical Form (PRIMITIVES, FULLNAMES, STRIP, ORDER,
 *        STRINGS, INTEGERS, WHITESPACE).
 * @returns a NUL-terminated string the caller frees with free(), or NULL
 *          with \p err set: OF_EINVAL for text that is not a schema this
 *          transform understands, OF_EAGAIN when memory ran out.
 * @locality any thread.
 */
char *of_crc64_canonical_form(const char *json, size_t len, struct of_err *err);

/**
 * @brief Fingerprint of the schema text \p json: CRC-64-AVRO of its Parsing
 *        Canonical Form, the value Java's
 *        SchemaNormalization.parsingFingerprint64() gives.
 * @returns OF_OK with *\p fp set, or the error of of_crc64_canonical_form().
 * @locality any thread.
 */
int of_crc64_schema_fingerprint(const char *json,
                                size_t len,
                                uint64_t *fp,
                                struct of_err *err);

#endif
