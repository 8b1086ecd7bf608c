-- 0004_sender_leases: the sender's claims become leases, and its ledger
-- can be pruned by age.
--
-- A claim ('sending') now names the instance holding it and until when
-- (docs/api.md §4, duplicates): another instance that meets the same
-- otp_id while the lease is live (after a rebalance, say) is refused and
-- tries again later, instead of sending the SMS a second time. An expired
-- lease (its holder died) can be taken over. A 'sending' row without a
-- lease (written before this migration, or released after a transient
-- failure) can be claimed at once, as before.
--
-- Idempotent like every migration.

ALTER TABLE otpflow.sms_deliveries
	ADD COLUMN IF NOT EXISTS lease_owner text;
ALTER TABLE otpflow.sms_deliveries
	ADD COLUMN IF NOT EXISTS lease_until timestamptz;

-- The sender deletes rows older than OTPFLOW_LEDGER_RETENTION in small
-- batches, oldest first.
CREATE INDEX IF NOT EXISTS sms_deliveries_updated_at_idx
	ON otpflow.sms_deliveries (updated_at);
