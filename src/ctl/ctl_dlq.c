/*
 * orderflowctl dlq list | redrive | skip: the dead-letter topic (CONTRACT
 * §4, §7), printed for an operator. What they do is of_dlq.h's, shared
 * with the API's /v1/admin/dead-letters:
 *
 * A dead letter is the original message, bytes and key untouched, with the
 * headers error, original-topic, original-partition, original-offset and
 * failed-at added. `list` prints one JSON object per dead letter, the
 * oldest first, decoded where the value is one of our commands. `redrive`
 * publishes the original bytes, key and headers back to the original
 * topic; dead letters stay in their topic, so redriving one twice sends it
 * twice (a command applied once is then a dedupe hit, nothing more).
 *
 * Parked keys (schemas/sql/002_parked_keys.sql): the command worker parks a
 * key behind a message that looks like a command but cannot be applied
 * (error header "parked: ..."), and dead-letters the key's later messages
 * with a parked-behind header. When `redrive` meets such a dead letter it
 * deletes the key's parked_keys row first, once per key and run, before
 * publishing it, so that the worker applies the key's messages instead of
 * parking them again; they are published in dead-letter offset order, which
 * is their original order (one key, one dead-letter partition, written in
 * order). A parker that still fails parks the key again, and the ones
 * after it follow it back. `skip` deletes the row only: later messages
 * flow, the parked ones stay dead letters.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "of_avro.h"
#include "of_db.h"
#include "of_dlq.h"

static const char usage[] =
    "usage: orderflowctl dlq list [--limit N]\n"
    "       orderflowctl dlq redrive (--offset [PARTITION:]OFFSET | --all)\n"
    "       orderflowctl dlq skip --topic TOPIC --key KEY\n"
    "list prints one JSON object per dead letter (default limit 100).\n"
    "redrive sends the original message back to its original topic;\n"
    "PARTITION defaults to 0 (`dlq list` shows both). A parked key's dead\n"
    "letters unpark it and are sent in their original order.\n"
    "skip unparks KEY of command topic TOPIC: its later messages flow again,\n"
    "its dead letters stay where they are.\n";

static void note(void *arg, const char *msg)
{
    (void)arg;
    ctl_fail("%s", msg);
}

/* An operator's patience: ten-second requests, 30 s for a message or the
 * acks; no overall deadline. */
static const struct of_dlq_opts opts = {.request_ms = 10000,
                                        .idle_ms = 30000,
                                        .flush_ms = 30000,
                                        .client = "orderflowctl-scan",
                                        .note = note};

static int list(const struct of_config *cfg, long limit)
{
    struct of_err err;
    struct of_avro *avro = of_avro_new(&err);
    json_t *letters = NULL;
    size_t i;
    json_t *o;
    int rc = 1;

    if (!avro) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    if (of_dlq_list(cfg, avro, OF_DLQ_JSON_VALUE, limit, &opts, &letters,
                    &err) != OF_OK) {
        ctl_fail("%s", err.msg);
        goto out;
    }
    json_array_foreach(letters, i, o)
    {
        char *text = json_dumps(o, JSON_COMPACT);
        printf("%s\n", text ? text : "{}");
        free(text);
    }
    rc = 0;
out:
    json_decref(letters);
    of_avro_destroy(avro);
    return rc;
}

static int redrive(const struct of_config *cfg, int partition, int64_t offset)
{
    struct of_dlq_redrive_stats st;
    struct of_err err;
    int rc = of_dlq_redrive(cfg, partition, offset, &opts, &st, &err);

    if (rc != OF_OK)
        ctl_fail("%s", err.msg);
    printf("redriven: %ld (%ld not acknowledged)\n", st.redriven, st.failed);
    if (st.keys > 0)
        printf("unparked: %ld of %ld key(s) met\n", st.unparked, st.keys);
    return rc != OF_OK || st.failed ? 1 : 0;
}

/* dlq skip --topic T --key K */
static int skip(const struct of_config *cfg, const char *topic,
                const char *key)
{
    struct of_err err;
    struct of_db *db;
    uint64_t n = 0;
    int rc;

    if (!topic || !key || !*topic || !*key) {
        fputs(usage, stderr);
        return 2;
    }
    db = of_db_open(cfg, &err);
    if (!db) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    rc = of_dlq_unpark(db, topic, key, strlen(key), &n, &err);
    of_db_close(db);
    if (rc != OF_OK) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    printf("unparked: %llu\n", (unsigned long long)n);
    return 0;
}

static int parse_offset(const char *s, int *partition, int64_t *offset)
{
    char *end;
    const char *colon = strchr(s, ':');

    *partition = 0; /* the dead-letter topic's first partition */
    if (colon) {
        *partition = (int)strtol(s, &end, 10);
        if (end != colon || *partition < 0)
            return -1;
        s = colon + 1;
    }
    *offset = strtoll(s, &end, 10);
    return (*end || *offset < 0) ? -1 : 0;
}

int ctl_dlq(struct of_config *cfg, int argc, char **argv)
{
    static const struct option lopts[] = {{"limit", required_argument, 0, 'l'},
                                          {"offset", required_argument, 0, 'o'},
                                          {"all", no_argument, 0, 'a'},
                                          {"topic", required_argument, 0, 't'},
                                          {"key", required_argument, 0, 'k'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *topic = NULL, *key = NULL;
    int listing, skipping, all = 0, c, partition = -1;
    int64_t offset = -1;
    long limit = 100;

    if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "redrive") &&
                     strcmp(argv[1], "skip"))) {
        fputs(usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    listing = strcmp(argv[1], "list") == 0;
    skipping = strcmp(argv[1], "skip") == 0;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", lopts, NULL)) != -1) {
        if (c == 't' && skipping) {
            topic = optarg;
        } else if (c == 'k' && skipping) {
            key = optarg;
        } else if (c == 'l' && listing) {
            limit = strtol(optarg, NULL, 10);
        } else if (c == 'o' && !listing && !skipping) {
            if (parse_offset(optarg, &partition, &offset)) {
                ctl_fail("--offset: expected [PARTITION:]OFFSET");
                return 2;
            }
        } else if (c == 'a' && !listing && !skipping) {
            all = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (skipping && optind == argc - 1)
        return skip(cfg, topic, key);
    if (skipping || optind != argc - 1 || limit < 1 ||
        (!listing && all == (offset >= 0))) {
        fputs(usage, stderr);
        return 2;
    }
    return listing ? list(cfg, limit) : redrive(cfg, partition, offset);
}
