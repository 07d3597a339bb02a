-- 9 (kri serve): each tenant's per-job schedule overrides (JSON object, job ->
-- ISO-8601 duration), and the schedule of every (tenant, job) with the lease of the
-- host running it now and a fence that every claim moves on.
ALTER TABLE tenants ADD COLUMN schedules TEXT NOT NULL DEFAULT '{}';
CREATE TABLE job_schedules (
    tenant_id TEXT NOT NULL,
    job TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    next_due_ms INTEGER NOT NULL,   -- ms since the Unix epoch
    lease_owner TEXT,
    lease_until_ms INTEGER,
    fence INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, job)
);
CREATE INDEX job_schedules_by_due ON job_schedules(next_due_ms);
