-- API keys that may ingest events. Only an HMAC-SHA256 of each key (keyed by API_KEYS_SECRET)
-- is stored; `prefix` is the non-secret part of the key, used to find the row before the
-- hash is compared in constant time.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

CREATE TABLE IF NOT EXISTS api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    prefix text NOT NULL UNIQUE,
    key_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
