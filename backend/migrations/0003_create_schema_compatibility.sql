-- Lets a migration declare that older releases can still serve the schema it leaves behind.
--
-- Blue/green runs the previous release next to the new one, and a rollback starts the previous
-- release again on a database the new one has migrated. A release refuses to start when the
-- database has applied a migration it doesn't know, unless every such migration has a row
-- here whose `oldest_compatible_version` is at most that release's newest migration. An
-- expand migration (say 0007, adding a nullable column) inserts (7, 6); a contract migration
-- that drops what release 6 reads inserts nothing, so release 6 refuses to start on it.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

CREATE TABLE IF NOT EXISTS schema_compatibility (
    migration_version bigint PRIMARY KEY,
    oldest_compatible_version bigint NOT NULL,
    CHECK (oldest_compatible_version <= migration_version)
);
