-- 9 (PostgreSQL twin of ../0009_job_schedules.sql, kri serve): each tenant's
-- per-job schedule overrides (JSONB object, job -> ISO-8601 duration), and the
-- schedule of every (tenant, job) with the lease of the host running it now and a
-- fence that every claim moves on. A schedule goes with its tenant.
ALTER TABLE tenants ADD COLUMN schedules JSONB NOT NULL DEFAULT '{}';
CREATE TABLE job_schedules (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    job TEXT NOT NULL,
    interval_ms BIGINT NOT NULL,
    next_due_ms BIGINT NOT NULL,    -- ms since the Unix epoch
    lease_owner TEXT,
    lease_until_ms BIGINT,
    fence BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, job)
);
CREATE INDEX job_schedules_by_due ON job_schedules(next_due_ms);
