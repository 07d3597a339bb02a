-- 2: the start time of the process running a run, so a reused pid is not taken for
-- the process that left the run unfinished.
ALTER TABLE runs ADD COLUMN pid_start INTEGER;
