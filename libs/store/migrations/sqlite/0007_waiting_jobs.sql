-- Jobs still to send, by shard and age: the shard's holder looks for those its queue
-- did not bring (a broker link that went silent) every few seconds.
CREATE INDEX send_jobs_waiting ON send_jobs (shard, created_at)
    WHERE status IN ('queued', 'sending');
