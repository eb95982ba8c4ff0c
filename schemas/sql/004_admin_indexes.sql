-- orderflow schema, version 4: indexes for the admin lists.
--
-- GET /v1/admin/orders pages newest first, (created_at DESC, order_id DESC),
-- with keyset cursors, optionally filtered by status, type, user_id and a
-- created_at window (src/producer-api/api_admin.c). Each filter needs an
-- index that starts with its equality column and goes on with the sort key,
-- so that a page, at any depth, is a short backward range scan that stops
-- after limit + 1 rows, with no filesort:
-- - unfiltered, and from/to alone: orders_created (created_at, order_id),
--   from 001;
-- - status: orders_status_created replaces orders_status (order_status,
--   order_id), which no query used: a WHERE order_status = ? is served as
--   well by the new one, so the writes keep the same number of indexes;
-- - user_id: orders_user_created. orders_user (user_id, order_id) stays for
--   GET /v1/users/{id}/orders (ORDER BY order_id) and the foreign key;
-- - type has two values, so a backward scan of orders_created meets a
--   match every row or two: it needs no index of its own (the benchmark,
--   tests/bench/admin_orders_1m.sh, shows the plans and the times).
-- GET /v1/admin/users needs none: user_id DESC is the primary key, and the
-- q prefix searches use users_email and users_username from 001.
--
-- Valid on MariaDB 10.11 and MySQL 8.0+ (no IF [NOT] EXISTS on indexes,
-- which MySQL lacks). One statement, so it is atomic: an interrupted ALTER
-- leaves the table as it was, and `orderflowctl migrate` runs it again. A
-- stop between the ALTER's end and the schema_migrations insert leaves it
-- applied but unrecorded: the rerun's ALTER then fails on the dropped index
-- (error 1091), which migrate takes as applied (src/common/of_db.c).

ALTER TABLE orders
    DROP INDEX orders_status,
    ADD INDEX orders_status_created (order_status, created_at, order_id),
    ADD INDEX orders_user_created (user_id, created_at, order_id);
