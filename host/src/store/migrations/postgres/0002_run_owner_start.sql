-- 2 (PostgreSQL twin of ../0002_run_owner_start.sql): the start time of the process
-- running a run, so a reused pid is not taken for the process that left the run
-- unfinished.
ALTER TABLE runs ADD COLUMN pid_start BIGINT;
