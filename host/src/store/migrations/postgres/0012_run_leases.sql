-- 12 (PostgreSQL twin of ../0012_run_leases.sql): a run's lease works across
-- machines: the machine of the process holding it, and until when (epoch ms) the
-- lease holds unless the holder's heartbeat renews it. NULL in rows from before.
ALTER TABLE runs ADD COLUMN machine TEXT;
ALTER TABLE runs ADD COLUMN lease_until BIGINT;
CREATE INDEX runs_running ON runs(tenant_id, job) WHERE status = 'running';
