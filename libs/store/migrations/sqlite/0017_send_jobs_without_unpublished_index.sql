-- Issue 14 (pgsend, ADR 0039): a job's announcement is no longer recorded at acceptance
-- (that write, one synchronous commit per send, usually waited for the worker's claim of
-- the same row); only the relay records the jobs it announced. Most jobs so keep
-- `published_at` NULL for good, and an index of the rows where it is NULL would hold
-- every job ever sent. The relay's query finds its jobs through `send_jobs_waiting`
-- (jobs still to send, by shard and age) instead.
DROP INDEX IF EXISTS send_jobs_unpublished;
