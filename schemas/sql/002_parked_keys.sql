-- orderflow schema, version 2: parked keys.
--
-- A command that looks real but cannot be applied (the Avro single-object
-- marker with a fingerprint this build does not know, or a decodable command
-- that fails validation) parks its key: the command worker dead-letters every
-- later message with the same (topic, key) behind it, with a parked-behind
-- header, until `orderflowctl dlq redrive` replays the key's dead letters (in
-- their original order) or `orderflowctl dlq skip` gives the key up. One row
-- per parked key; the parker is the message at parked_partition:parked_offset
-- of topic. Plain garbage parks nothing.
--
-- Idempotent (IF NOT EXISTS), as 001: DDL commits implicitly, so a migration
-- interrupted half-way is simply run again.

CREATE TABLE IF NOT EXISTS parked_keys (
    topic            VARCHAR(200)   NOT NULL,
    msg_key          VARBINARY(767) NOT NULL,
    parked_partition INT            NOT NULL,
    parked_offset    BIGINT         NOT NULL,
    reason           VARCHAR(255)   NOT NULL DEFAULT '',
    parked_at        TIMESTAMP(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (topic, msg_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
