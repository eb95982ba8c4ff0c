-- orderflow schema, version 5: commands.actor_id holds every actor id a
-- command may carry.
--
-- A command's actor.id may have 128 bytes (OF_ACTOR_ID_MAX, checked by the
-- worker's validation of every command it consumes), but the column had 80
-- characters: a command from another producer with a longer actor id failed
-- its INSERT ("Data too long", strict mode) instead of being applied. The
-- API's own actors ("user:42", "apikey:<name of up to 64>") fit in 80, so
-- nothing it sent was affected.
--
-- Valid on MySQL 8.0+ and MariaDB 10.11. Widening a VARCHAR whose length
-- prefix is already 2 bytes (80 characters of utf8mb4 are past 255 bytes)
-- changes no row: both servers do it in place. Repeating it changes nothing.

ALTER TABLE commands
    MODIFY actor_id VARCHAR(128) NOT NULL;
