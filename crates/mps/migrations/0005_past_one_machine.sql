-- Issue 21: after a Redis failover (Sentinel or Cluster), every instance rewrites the revocation
-- tombstones of the last six minutes from PostgreSQL (auth::session::rewrite_recent_tombstones):
-- asynchronous replication may have lost ones the old master acknowledged. This index keeps that
-- read small however many sessions have ever been revoked.
CREATE INDEX sessions_recently_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
