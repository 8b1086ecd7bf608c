-- 0002_otpflow: otpflow's own state, in schema `otpflow`.
--
-- Nothing here references `auth` by foreign key: these rows are otpflow's
-- ledger (dedup, outbox, reconciliation) and must outlive a user that Nhost
-- or an operator deletes. Idempotent like every migration, although the
-- runner applies it once.
--
-- otpflow.schema_migrations is not created here: common/migrate.c creates it
-- (and the schema) before it applies any file, because it must read it
-- first.

-- Guarded rather than IF NOT EXISTS: that form needs the CREATE right on the
-- database even when the schema exists (an operator may create `otpflow`
-- for otpflow's role and grant nothing more).
DO $$
BEGIN
	IF to_regnamespace('otpflow') IS NULL THEN
		CREATE SCHEMA otpflow;
	END IF;
END
$$;

-- One row per signup-requests record the worker has handled, written in the
-- same transaction as its effect, so a redelivered record has none.
-- accepted = created + existing + dropped (+ reissued, for REISSUE requests
-- that rotated a code) is what `otpflowctl stats` reconciles.
CREATE TABLE IF NOT EXISTS otpflow.processed_requests (
	request_id uuid PRIMARY KEY,
	processed_at timestamptz NOT NULL DEFAULT now(),
	outcome text NOT NULL
		CHECK (outcome IN ('created', 'existing', 'dropped', 'reissued'))
);

CREATE INDEX IF NOT EXISTS processed_requests_processed_at_idx
	ON otpflow.processed_requests (processed_at);

-- Transactional outbox of OtpIssued events: inserted with the user row,
-- published to Kafka after commit, deleted on delivery. Rows still here
-- after a crash are published first on start.
CREATE TABLE IF NOT EXISTS otpflow.outbox (
	id bigserial PRIMARY KEY,
	topic text NOT NULL,
	key text NOT NULL,
	value bytea NOT NULL,
	headers jsonb NOT NULL DEFAULT '{}',
	otp_id uuid NOT NULL UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Every code issued (sign-up or reissue): the per-phone cooldown and hourly
-- cap read it by (phone_number, issued_at); reconciliation counts it.
CREATE TABLE IF NOT EXISTS otpflow.otp_issuance (
	otp_id uuid PRIMARY KEY,
	user_id uuid NOT NULL,
	phone_number text NOT NULL,
	request_id uuid NOT NULL,
	issued_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS otp_issuance_phone_number_issued_at_idx
	ON otpflow.otp_issuance (phone_number, issued_at);

-- The sender's dedup state, one row per code: 'sending' is written before
-- the provider call, 'sent' / 'dead_lettered' after, so a redelivered
-- OtpIssued whose SMS already went out is not sent again.
CREATE TABLE IF NOT EXISTS otpflow.sms_deliveries (
	otp_id uuid PRIMARY KEY,
	user_id uuid,
	status text NOT NULL
		CHECK (status IN ('sending', 'sent', 'dead_lettered')),
	provider text,
	provider_message_id text,
	attempts int NOT NULL DEFAULT 0,
	reason text,
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS sms_deliveries_status_idx
	ON otpflow.sms_deliveries (status);
