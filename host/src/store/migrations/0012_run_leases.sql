-- 12: a run's lease works across machines: the machine of the process holding it,
-- and until when (epoch ms) the lease holds unless the holder's heartbeat renews
-- it. NULL in rows from before.
ALTER TABLE runs ADD COLUMN machine TEXT;
ALTER TABLE runs ADD COLUMN lease_until INTEGER;
