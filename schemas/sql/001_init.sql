-- orderflow schema, version 1.
--
-- users and orders keep the seed's columns and types (CONTRACT.md §5); the
-- columns after them are ours: version (the aggregate's event version, 1, 2,
-- 3 ... with no gap) and updated_at. Everything here runs on MariaDB 10.11
-- and MySQL 8.0+. Statements are idempotent (IF NOT EXISTS) because DDL
-- commits implicitly: a migration interrupted half-way is simply run again.

CREATE TABLE IF NOT EXISTS users (
    user_id           INT          NOT NULL AUTO_INCREMENT,
    email             VARCHAR(255) NOT NULL,
    username          VARCHAR(50)  NOT NULL,
    registration_date TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    avatar_url        VARCHAR(255) NULL,
    is_banned         BOOLEAN      NOT NULL DEFAULT FALSE,
    version           INT UNSIGNED NOT NULL DEFAULT 1,
    updated_at        TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id),
    UNIQUE KEY users_email (email),
    KEY users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS orders (
    order_id     INT                     NOT NULL AUTO_INCREMENT,
    user_id      INT                     NOT NULL,
    order_type   ENUM('vip', 'jewelry')  NOT NULL,
    order_status VARCHAR(20)             NOT NULL DEFAULT 'pending',
    total_amount DECIMAL(10, 2)          NOT NULL,
    created_at   TIMESTAMP               NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at   TIMESTAMP               NOT NULL DEFAULT CURRENT_TIMESTAMP,
    version      INT UNSIGNED            NOT NULL DEFAULT 1,
    PRIMARY KEY (order_id),
    -- a user's orders newest first: GET /v1/users/{id}/orders
    KEY orders_user (user_id, order_id),
    KEY orders_status (order_status, order_id),
    KEY orders_created (created_at, order_id),
    CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per applied or rejected command, written in the same transaction
-- as its effect: the primary key is what makes a redelivered or replayed
-- command change nothing (exactly-once application).
CREATE TABLE IF NOT EXISTS commands (
    command_id    CHAR(36)     NOT NULL,
    command_type  VARCHAR(32)  NOT NULL,
    status        ENUM('applied', 'rejected') NOT NULL,
    resource_type VARCHAR(16)  NOT NULL,
    resource_id   INT          NULL,
    error_code    VARCHAR(32)  NULL,
    error_message VARCHAR(255) NULL,
    actor_id      VARCHAR(80)  NOT NULL,
    trace_id      VARCHAR(64)  NOT NULL DEFAULT '',
    accepted_at   TIMESTAMP(6) NOT NULL,
    completed_at  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    kafka_topic     VARCHAR(200) NULL,
    kafka_partition INT          NULL,
    kafka_offset    BIGINT       NULL,
    PRIMARY KEY (command_id),
    KEY commands_completed (completed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Transactional outbox. id, aggregatetype, aggregateid, type and payload are
-- the column names Debezium's outbox event router reads by default, so a
-- Debezium MySQL connector can relay this table instead of our relay.
CREATE TABLE IF NOT EXISTS outbox (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    aggregatetype VARCHAR(16)  NOT NULL,
    aggregateid   VARCHAR(32)  NOT NULL,
    type          VARCHAR(32)  NOT NULL,
    payload       BLOB         NOT NULL,
    event_id      CHAR(36)     NOT NULL,
    version       INT UNSIGNED NOT NULL,
    command_id    CHAR(36)     NOT NULL,
    trace_id      VARCHAR(64)  NOT NULL DEFAULT '',
    created_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    published_at  TIMESTAMP(6) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY outbox_event (event_id),
    UNIQUE KEY outbox_version (aggregatetype, aggregateid, version),
    KEY outbox_unpublished (published_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- API keys: only the SHA-256 of a key is stored. Keys are 256-bit random
-- values, so a plain hash is enough (no password stretching needed).
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     INT          NOT NULL AUTO_INCREMENT,
    name       VARCHAR(64)  NOT NULL,
    role       ENUM('user', 'service', 'admin') NOT NULL,
    key_prefix VARCHAR(16)  NOT NULL,
    key_hash   BINARY(32)   NOT NULL,
    created_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    revoked_at TIMESTAMP    NULL,
    PRIMARY KEY (key_id),
    UNIQUE KEY api_keys_name (name),
    UNIQUE KEY api_keys_hash (key_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
