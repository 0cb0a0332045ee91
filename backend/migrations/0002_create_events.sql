-- Ingested events. `occurred_at` is the client's timestamp (the API's `timestamp`), which
-- reads and stats order and filter by; `received_at` is when the server stored it.
-- `api_key_id` has no foreign key on purpose: deleting a key must neither fail nor delete
-- the events it sent.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

CREATE TABLE IF NOT EXISTS events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id text,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    api_key_id bigint
);

-- The indexes below are built without CONCURRENTLY because the table is created in this same
-- migration, which sqlx runs in one transaction: nothing else can be writing to it yet.

-- Newest-first keyset pagination over all events, and over one event name.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX IF NOT EXISTS events_occurred_at_id_idx ON events (occurred_at DESC, id DESC);
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX IF NOT EXISTS events_name_occurred_at_id_idx ON events (name, occurred_at DESC, id DESC);
-- Deleting a user's events (admin API).
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX IF NOT EXISTS events_user_id_idx ON events (user_id) WHERE user_id IS NOT NULL;
