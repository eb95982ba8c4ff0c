-- orderflow schema, version 3: duplicate-command conflicts, 128-byte trace ids.
--
-- commands.payload_sha256: the SHA-256 of what a command asks for (its type,
-- actor and fields; not its command_id, issued_at or trace_id, which a client
-- retry with the same Idempotency-Key legitimately changes), written by the
-- command worker with the dedupe row. A later message with the same
-- command_id and another hash is a conflict: still a no-op, but counted in
-- orderflow_worker_duplicate_command_conflicts_total (TESTPLAN bad input 47).
-- NULL for rows written before this migration: those cannot conflict.
--
-- trace_id: a command's trace id may have 128 bytes (CONTRACT §4, the Avro
-- schemas), so the commands and outbox columns hold 128 characters instead
-- of a 64-byte prefix. Both are already past 255 bytes in utf8mb4, so the
-- length prefix keeps its 2 bytes and MariaDB widens them in place.
--
-- The worker prepares its statements with payload_sha256: a worker of this
-- version stops at start-up on an unmigrated database ("run orderflowctl
-- migrate"); an older worker ignores the new column.
--
-- Valid on MySQL 8.0+ and MariaDB 10.11, so without MariaDB's ADD COLUMN
-- IF NOT EXISTS: the ADD is a statement of its own, and a rerun after a run
-- stopped before recording this file finds the column there (error 1060),
-- which `orderflowctl migrate` takes as applied (src/common/of_db.c). The
-- MODIFYs to the same type change nothing when repeated.

ALTER TABLE commands
    MODIFY trace_id VARCHAR(128) NOT NULL DEFAULT '';

ALTER TABLE commands
    ADD COLUMN payload_sha256 BINARY(32) NULL;

ALTER TABLE outbox
    MODIFY trace_id VARCHAR(128) NOT NULL DEFAULT '';
