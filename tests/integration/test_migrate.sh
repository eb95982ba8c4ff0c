#!/usr/bin/env bash
# orderflowctl migrate on an empty database applies every schemas/sql file
# once; a second run changes nothing (CONTRACT §5); a run that stopped after
# a file's statements but before recording it is completed by the next one.
# Runs against MariaDB (integration.test_migrate) and MySQL
# (mysql.test_migrate).
set -euo pipefail
. "$(dirname "$0")/../lib/tap.sh"

db="of_migrate_$$_$RANDOM"
root_sql() { mariadb --socket="$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot -N -e "$1"; }
root_sql "CREATE DATABASE $db; GRANT ALL ON $db.* TO 'orderflow'@'127.0.0.1'"
trap 'root_sql "DROP DATABASE IF EXISTS $db"' EXIT

ctl() {
    ORDERFLOW_MYSQL_HOST=$ORDERFLOW_TEST_MYSQL_HOST \
    ORDERFLOW_MYSQL_PORT=$ORDERFLOW_TEST_MYSQL_PORT \
    ORDERFLOW_MYSQL_USER=$ORDERFLOW_TEST_MYSQL_USER \
    ORDERFLOW_MYSQL_PASSWORD=$ORDERFLOW_TEST_MYSQL_PASSWORD \
    ORDERFLOW_MYSQL_DATABASE=$db \
        "$ORDERFLOW_BIN_DIR/orderflowctl" \
        --config "$ORDERFLOW_SOURCE_DIR/config/orderflow.ini" "$@"
}
nfiles=$(ls "$ORDERFLOW_SOURCE_DIR"/schemas/sql/*.sql | wc -l)

out=$(ctl migrate)
is "$out" "migrations applied: $nfiles" "first migrate applies all $nfiles files"
is "$(root_sql "SELECT COUNT(*) FROM $db.schema_migrations")" "$nfiles" \
    "schema_migrations records each file"
tables=$(root_sql "SELECT GROUP_CONCAT(table_name ORDER BY table_name)
    FROM information_schema.tables WHERE table_schema = '$db'")
for table in users orders commands outbox api_keys schema_migrations; do
    like ",$tables," ",$table," "table $table exists"
done
cols=$(root_sql "SELECT GROUP_CONCAT(CONCAT(column_name, ':', column_type)
    ORDER BY ordinal_position) FROM information_schema.columns
    WHERE table_schema = '$db' AND table_name = 'orders'
    AND column_name IN ('order_id','user_id','order_type','order_status',
                        'total_amount','created_at')")
# MySQL 8.0.19+ shows int without MariaDB's display width (11)
is "${cols//int(11)/int}" "order_id:int,user_id:int,order_type:enum('vip','jewelry'),order_status:varchar(20),total_amount:decimal(10,2),created_at:timestamp" \
    "orders keeps the seed's columns and types"

before=$(root_sql "CHECKSUM TABLE $db.schema_migrations")
out=$(ctl migrate)
is "$out" "migrations applied: 0" "second migrate applies nothing"
is "$(root_sql "CHECKSUM TABLE $db.schema_migrations")" "$before" \
    "second migrate leaves schema_migrations unchanged"

# A run stopped after the statements of 003 and 004 but before recording
# them: the next run meets the column and the indexes already there (errors
# 1060 and 1091), takes those statements as applied with a warning, records
# both files and leaves the schema as it was.
schema() {
    root_sql "SELECT GROUP_CONCAT(CONCAT(table_name, '.', column_name, ':',
        column_type) ORDER BY table_name, ordinal_position)
        FROM information_schema.columns WHERE table_schema = '$db';
        SELECT GROUP_CONCAT(DISTINCT CONCAT(table_name, '.', index_name)
        ORDER BY table_name, index_name)
        FROM information_schema.statistics WHERE table_schema = '$db'"
}
schema_before=$(schema)
root_sql "DELETE FROM $db.schema_migrations WHERE version IN (3, 4)"
out=$(ctl migrate 2>"$db.err") || fail "migrate after an unrecorded 003 and 004 failed: $(cat "$db.err")"
is "$out" "migrations applied: 2" "the rerun records the two unrecorded files"
like "$(cat "$db.err")" "003_command_hash_trace.sql: could not execute statement: Duplicate column name 'payload_sha256'" \
    "its warning names 003's column that was already there"
like "$(cat "$db.err")" "004_admin_indexes.sql: could not execute statement: Can't DROP" \
    "its warning names 004's index that was already gone"
rm -f "$db.err"
is "$(root_sql "SELECT COUNT(*) FROM $db.schema_migrations")" "$nfiles" \
    "schema_migrations records each file again"
is "$(schema)" "$schema_before" "the rerun leaves every column and index as it was"

# a bad password is one clear error and exit status 1
if out=$(ORDERFLOW_TEST_MYSQL_PASSWORD=wrong ctl migrate 2>&1); then
    fail "migrate with a wrong password failed"
else
    like "$out" "could not connect to MySQL at" "wrong password: clear error"
fi
done_testing
