-- 4 (PostgreSQL twin of ../0004_secret_key_ids.sql): the id of the key that sealed
-- each secret, so a wrong key is named as such (NULL for secrets sealed before ids
-- were recorded).
ALTER TABLE secrets ADD COLUMN key_id TEXT;
