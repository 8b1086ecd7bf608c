-- 0005_worker_v2: what the worker's reliability v2 needs.
--
-- The ledger tables are pruned after OTPFLOW_LEDGER_RETENTION in small
-- batches, oldest first (common/ledger.c): otp_issuance needs an index on
-- issued_at alone for that (processed_requests has one on processed_at
-- since 0002). Idempotent like every migration.

CREATE INDEX IF NOT EXISTS otp_issuance_issued_at_idx
	ON otpflow.otp_issuance (issued_at);
