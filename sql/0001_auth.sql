-- 0001_auth: the parts of Nhost Auth's `auth` schema that otpflow writes.
--
-- Creates, only where missing: extensions citext and pgcrypto (in schema
-- public, as Nhost does), schema auth, domain auth.email, the trigger
-- function auth.set_current_timestamp_updated_at(), and tables auth.roles,
-- auth.users and auth.user_roles with the trigger set_auth_users_updated_at;
-- then makes sure the roles user, me and anonymous exist.
--
-- The shape mirrors the state Nhost's own golang-migrate migrations
-- (nhost/nhost services/auth/go/migrations/postgres) leave behind, as
-- recorded in Nhost's pg_dump of the schema (services/auth/go/sql/
-- auth_schema_dump.sql):
--   00001_create-initial-tables  extensions, domain auth.email, the
--                                updated_at trigger function, roles, users,
--                                user_roles, FKs fk_user / fk_role /
--                                fk_default_role (ON UPDATE CASCADE; users
--                                ON DELETE CASCADE, roles ON DELETE
--                                RESTRICT), active_mfa_types_check, the
--                                seed roles user, anonymous, me
--   00002_custom-user-fields     users.metadata jsonb
--   00006_setup-webauthn         users.webauthn_current_challenge text
--   00019_locale_varchar_3       users.locale varchar(2) -> varchar(3)
-- Nhost's later migrations 00023-00027 (users.otp_attempts,
-- new_phone_number, pending_sms_deanonymize_options, totp_attempts,
-- totp_locked_until) are not mirrored: they are newer than the schema this
-- project targets (docs/api.md §6), and on a shared database Nhost adds them
-- itself.
--
-- Every object is created behind a catalogue check rather than with a bare
-- IF NOT EXISTS, because Postgres checks the CREATE privilege before it
-- looks for the object: on a database where Nhost already created `auth`,
-- this file must run as a role that owns nothing there and only reads the
-- catalogue. It never alters an existing Nhost object (a column added here
-- would make Nhost's next migration fail).
--
-- otpflow never creates auth.schema_migrations (golang-migrate's table):
-- run Nhost Auth's migrations first when the database is shared with Nhost.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citext') THEN
		CREATE EXTENSION citext WITH SCHEMA public;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto') THEN
		CREATE EXTENSION pgcrypto WITH SCHEMA public;
	END IF;
	IF to_regnamespace('auth') IS NULL THEN
		CREATE SCHEMA auth;
	END IF;
END
$$;

-- E-mail addresses: case-insensitive text that looks like an address.
DO $$
BEGIN
	IF to_regtype('auth.email') IS NULL THEN
		CREATE DOMAIN auth.email AS public.citext
			CONSTRAINT email_check CHECK (VALUE OPERATOR(public.~)
				'^[a-zA-Z0-9.!#$%&''*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$'::public.citext);
	END IF;
END
$$;

DO $$
BEGIN
	IF to_regprocedure('auth.set_current_timestamp_updated_at()') IS NULL THEN
		CREATE FUNCTION auth.set_current_timestamp_updated_at()
		RETURNS trigger
		LANGUAGE plpgsql
		AS $fn$
DECLARE
	_new record;
BEGIN
	_new := new;
	_new."updated_at" = now();
	RETURN _new;
END;
$fn$;
	END IF;
END
$$;

DO $$
BEGIN
	IF to_regclass('auth.roles') IS NULL THEN
		CREATE TABLE auth.roles (
			role text NOT NULL,
			CONSTRAINT roles_pkey PRIMARY KEY (role)
		);
		COMMENT ON TABLE auth.roles IS 'Persistent Hasura roles for users. Don''t modify its structure as Hasura Auth relies on it to function properly.';
	END IF;
END
$$;

DO $$
BEGIN
	IF to_regclass('auth.users') IS NULL THEN
		CREATE TABLE auth.users (
			id uuid DEFAULT public.gen_random_uuid() NOT NULL,
			created_at timestamptz DEFAULT now() NOT NULL,
			updated_at timestamptz DEFAULT now() NOT NULL,
			last_seen timestamptz,
			disabled boolean DEFAULT false NOT NULL,
			display_name text DEFAULT '' NOT NULL,
			avatar_url text DEFAULT '' NOT NULL,
			locale varchar(3) NOT NULL,
			email auth.email,
			phone_number text,
			password_hash text,
			email_verified boolean DEFAULT false NOT NULL,
			phone_number_verified boolean DEFAULT false NOT NULL,
			new_email auth.email,
			otp_method_last_used text,
			otp_hash text,
			otp_hash_expires_at timestamptz DEFAULT now() NOT NULL,
			default_role text DEFAULT 'user' NOT NULL,
			is_anonymous boolean DEFAULT false NOT NULL,
			totp_secret text,
			active_mfa_type text,
			ticket text,
			ticket_expires_at timestamptz DEFAULT now() NOT NULL,
			metadata jsonb,
			webauthn_current_challenge text,
			CONSTRAINT users_pkey PRIMARY KEY (id),
			CONSTRAINT users_email_key UNIQUE (email),
			CONSTRAINT users_phone_number_key UNIQUE (phone_number),
			CONSTRAINT active_mfa_types_check
				CHECK (active_mfa_type = 'totp' OR active_mfa_type = 'sms'),
			CONSTRAINT fk_default_role FOREIGN KEY (default_role)
				REFERENCES auth.roles (role)
				ON UPDATE CASCADE ON DELETE RESTRICT
		);
		COMMENT ON TABLE auth.users IS 'User account information. Don''t modify its structure as Hasura Auth relies on it to function properly.';
		CREATE TRIGGER set_auth_users_updated_at
			BEFORE UPDATE ON auth.users
			FOR EACH ROW
			EXECUTE FUNCTION auth.set_current_timestamp_updated_at();
	END IF;
END
$$;

DO $$
BEGIN
	IF to_regclass('auth.user_roles') IS NULL THEN
		CREATE TABLE auth.user_roles (
			id uuid DEFAULT public.gen_random_uuid() NOT NULL,
			created_at timestamptz DEFAULT now() NOT NULL,
			user_id uuid NOT NULL,
			role text NOT NULL,
			CONSTRAINT user_roles_pkey PRIMARY KEY (id),
			CONSTRAINT user_roles_user_id_role_key UNIQUE (user_id, role),
			CONSTRAINT fk_user FOREIGN KEY (user_id)
				REFERENCES auth.users (id)
				ON UPDATE CASCADE ON DELETE CASCADE,
			CONSTRAINT fk_role FOREIGN KEY (role)
				REFERENCES auth.roles (role)
				ON UPDATE CASCADE ON DELETE RESTRICT
		);
		COMMENT ON TABLE auth.user_roles IS 'Roles of users. Don''t modify its structure as Hasura Auth relies on it to function properly.';
	END IF;
END
$$;

-- Nhost's seed. Only missing roles are inserted, so a role that may not
-- insert into an existing, already seeded auth.roles is never asked to.
DO $$
BEGIN
	IF EXISTS (SELECT 1
		   FROM (VALUES ('user'), ('me'), ('anonymous')) AS seed(role)
		   WHERE NOT EXISTS (SELECT 1 FROM auth.roles r
				     WHERE r.role = seed.role)) THEN
		INSERT INTO auth.roles (role)
		VALUES ('user'), ('me'), ('anonymous')
		ON CONFLICT DO NOTHING;
	END IF;
END
$$;
