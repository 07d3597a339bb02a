-- 14 (PostgreSQL twin of ../0014_run_stream_poll.sql): what a run's poll of an upstream
-- log read (the `stored-events` import's `record-poll`): pages, events, and its lag
-- (the run's time less the newest event time read, in ms). NULL for runs that polled
-- no log and for rows from before.
ALTER TABLE runs ADD COLUMN stream_pages BIGINT;
ALTER TABLE runs ADD COLUMN stream_events BIGINT;
ALTER TABLE runs ADD COLUMN stream_lag_ms BIGINT;
