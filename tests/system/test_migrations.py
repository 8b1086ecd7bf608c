"""Migrations: `otpflowctl migrate` builds Nhost's auth schema on an empty
database, leaves an existing Nhost schema untouched, is a no-op when repeated
or raced, and the rows it shapes verify with Nhost's SMS OTP statement.

Fixtures (tests/system/conftest.py): fresh_db is the URL of a new, empty
database; otpflowctl(*args, env=...) runs the built CLI.
"""

import concurrent.futures
import pathlib
import urllib.parse
import uuid

import psycopg2
import pytest

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "nhost_auth.sql"

# auth.users as Nhost's migrations leave it (SPEC section 6): name, data_type,
# character_maximum_length, is_nullable, column_default, domain_name. Order is
# Nhost's column order.
USERS_COLUMNS = [
    ("id", "uuid", None, "NO", "public.gen_random_uuid()", None),
    ("created_at", "timestamp with time zone", None, "NO", "now()", None),
    ("updated_at", "timestamp with time zone", None, "NO", "now()", None),
    ("last_seen", "timestamp with time zone", None, "YES", None, None),
    ("disabled", "boolean", None, "NO", "false", None),
    ("display_name", "text", None, "NO", "''::text", None),
    ("avatar_url", "text", None, "NO", "''::text", None),
    ("locale", "character varying", 3, "NO", None, None),
    ("email", "USER-DEFINED", None, "YES", None, "email"),
    ("phone_number", "text", None, "YES", None, None),
    ("password_hash", "text", None, "YES", None, None),
    ("email_verified", "boolean", None, "NO", "false", None),
    ("phone_number_verified", "boolean", None, "NO", "false", None),
    ("new_email", "USER-DEFINED", None, "YES", None, "email"),
    ("otp_method_last_used", "text", None, "YES", None, None),
    ("otp_hash", "text", None, "YES", None, None),
    ("otp_hash_expires_at", "timestamp with time zone", None, "NO", "now()",
     None),
    ("default_role", "text", None, "NO", "'user'::text", None),
    ("is_anonymous", "boolean", None, "NO", "false", None),
    ("totp_secret", "text", None, "YES", None, None),
    ("active_mfa_type", "text", None, "YES", None, None),
    ("ticket", "text", None, "YES", None, None),
    ("ticket_expires_at", "timestamp with time zone", None, "NO", "now()",
     None),
    ("metadata", "jsonb", None, "YES", None, None),
    ("webauthn_current_challenge", "text", None, "YES", None, None),
]

USER_ROLES_COLUMNS = [
    ("id", "uuid", None, "NO", "public.gen_random_uuid()", None),
    ("created_at", "timestamp with time zone", None, "NO", "now()", None),
    ("user_id", "uuid", None, "NO", None, None),
    ("role", "text", None, "NO", None, None),
]

ROLES_COLUMNS = [("role", "text", None, "NO", None, None)]

# Constraint name -> definition, as pg_get_constraintdef prints them.
AUTH_CONSTRAINTS = {
    ("users", "users_pkey"): "PRIMARY KEY (id)",
    ("users", "users_email_key"): "UNIQUE (email)",
    ("users", "users_phone_number_key"): "UNIQUE (phone_number)",
    ("users", "active_mfa_types_check"):
        "CHECK (((active_mfa_type = 'totp'::text) OR "
        "(active_mfa_type = 'sms'::text)))",
    ("users", "fk_default_role"):
        "FOREIGN KEY (default_role) REFERENCES auth.roles(role) "
        "ON UPDATE CASCADE ON DELETE RESTRICT",
    ("roles", "roles_pkey"): "PRIMARY KEY (role)",
    ("user_roles", "user_roles_pkey"): "PRIMARY KEY (id)",
    ("user_roles", "user_roles_user_id_role_key"): "UNIQUE (user_id, role)",
    ("user_roles", "fk_user"):
        "FOREIGN KEY (user_id) REFERENCES auth.users(id) "
        "ON UPDATE CASCADE ON DELETE CASCADE",
    ("user_roles", "fk_role"):
        "FOREIGN KEY (role) REFERENCES auth.roles(role) "
        "ON UPDATE CASCADE ON DELETE RESTRICT",
}

OTPFLOW_TABLES = {
    "processed_requests", "outbox", "otp_issuance", "sms_deliveries",
    "schema_migrations",
}

# Nhost's verification of an SMS OTP (SPEC section 6).
VERIFY_SQL = (
    "UPDATE auth.users SET otp_hash_expires_at = now(), "
    "phone_number_verified = true "
    "WHERE phone_number = %s AND otp_hash = crypt(%s, otp_hash) "
    "AND otp_hash_expires_at > now() AND otp_method_last_used = 'sms' "
    "RETURNING id"
)


def query(url, sql, args=None):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def execute(url, sql, args=None):
    query(url, sql, args)


def migrate(otpflowctl, url):
    proc = otpflowctl("migrate", env={"OTPFLOW_DATABASE_URL": url})
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


def columns(url, schema, table):
    return query(url, """
        SELECT column_name, data_type, character_maximum_length,
               is_nullable, column_default, domain_name
        FROM information_schema.columns
        WHERE table_schema = %s AND table_name = %s
        ORDER BY ordinal_position""", (schema, table))


def catalog(url, schema):
    """Everything about a schema's shape that a migration could change."""
    cols = query(url, """
        SELECT table_name, ordinal_position, column_name, data_type,
               character_maximum_length, is_nullable, column_default,
               domain_name
        FROM information_schema.columns WHERE table_schema = %s
        ORDER BY 1, 2""", (schema,))
    cons = query(url, """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace = %s::regnamespace ORDER BY 1, 2""", (schema,))
    idx = query(url, """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = %s ORDER BY 1, 2""", (schema,))
    trg = query(url, """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = %s::regnamespace AND NOT tgisinternal
        ORDER BY 1, 2""", (schema,))
    funcs = query(url, """
        SELECT proname, md5(prosrc) FROM pg_proc
        WHERE pronamespace = %s::regnamespace ORDER BY 1""", (schema,))
    return {"columns": cols, "constraints": cons, "indexes": idx,
            "triggers": trg, "functions": funcs}


def auth_constraints(url):
    rows = query(url, """
        SELECT c.relname, con.conname, pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
        WHERE con.connamespace = 'auth'::regnamespace
          AND c.relname IN ('users', 'roles', 'user_roles')""")
    return {(table, name): definition for table, name, definition in rows}


# Every file of sql/, in order: (version, name).
MIGRATIONS = sorted(
    (int(p.name[:4]), p.name)
    for p in (pathlib.Path(__file__).parents[2] / "sql").glob("[0-9]*.sql"))


def applied_migrations(url):
    return query(url, "SELECT version, name, applied_at "
                      "FROM otpflow.schema_migrations ORDER BY version")


def insert_sms_user(url, phone, code, expires_sql="now() + interval '5 minutes'"):
    """A row shaped as the worker writes it (SPEC section 3)."""
    user_id = str(uuid.uuid4())
    execute(url, f"""
        INSERT INTO auth.users (id, phone_number, display_name, locale,
            default_role, metadata, disabled, avatar_url, otp_hash,
            otp_hash_expires_at, otp_method_last_used, ticket_expires_at,
            email_verified)
        VALUES (%s, %s, %s, 'en', 'user', 'null'::jsonb, false, '',
            crypt(%s, gen_salt('bf', 6)), {expires_sql}, 'sms', now(),
            false)""", (user_id, phone, phone, code))
    execute(url, "INSERT INTO auth.user_roles (user_id, role) "
                 "VALUES (%s, 'user'), (%s, 'me')", (user_id, user_id))
    return user_id


def verify(url, phone, code):
    return [r[0] for r in query(url, VERIFY_SQL, (phone, code))]


def test_migrate_empty_database_creates_nhost_schema(fresh_db, otpflowctl):
    migrate(otpflowctl, fresh_db)

    assert columns(fresh_db, "auth", "users") == USERS_COLUMNS
    assert columns(fresh_db, "auth", "user_roles") == USER_ROLES_COLUMNS
    assert columns(fresh_db, "auth", "roles") == ROLES_COLUMNS
    assert auth_constraints(fresh_db) == AUTH_CONSTRAINTS

    roles = {r[0] for r in query(fresh_db, "SELECT role FROM auth.roles")}
    assert roles == {"user", "me", "anonymous"}

    exts = dict(query(fresh_db, "SELECT extname, extnamespace::regnamespace"
                                "::text FROM pg_extension"))
    assert exts.get("pgcrypto") == "public"
    assert exts.get("citext") == "public"

    domain = query(fresh_db, """
        SELECT t.typbasetype::regtype::text FROM pg_type t
        WHERE t.typname = 'email'
          AND t.typnamespace = 'auth'::regnamespace""")
    assert domain == [("citext",)]

    tables = {r[0] for r in query(fresh_db, """
        SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'otpflow'""")}
    assert tables == OTPFLOW_TABLES
    assert [(v, n) for v, n, _ in applied_migrations(fresh_db)] == \
        MIGRATIONS


def test_migrated_schema_behaves_like_nhost(fresh_db, otpflowctl):
    migrate(otpflowctl, fresh_db)
    user_id = insert_sms_user(fresh_db, "+14155550123", "123456")

    # One row per phone number: the worker's ON CONFLICT target exists.
    again = query(fresh_db, """
        INSERT INTO auth.users (phone_number, locale) VALUES (%s, 'en')
        ON CONFLICT (phone_number) DO NOTHING RETURNING id""",
                  ("+14155550123",))
    assert again == []

    # E-mail is case-insensitive and unique; the domain rejects non-addresses.
    execute(fresh_db, "UPDATE auth.users SET email = 'A@Example.com' "
                      "WHERE id = %s", (user_id,))
    with pytest.raises(psycopg2.errors.UniqueViolation):
        execute(fresh_db, "INSERT INTO auth.users (email, locale) "
                          "VALUES ('a@example.COM', 'en')")
    with pytest.raises(psycopg2.errors.CheckViolation):
        execute(fresh_db, "INSERT INTO auth.users (email, locale) "
                          "VALUES ('not-an-address', 'en')")

    # Unknown roles are refused; a user's role appears once.
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        execute(fresh_db, "INSERT INTO auth.users (locale, default_role) "
                          "VALUES ('en', 'nosuchrole')")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        execute(fresh_db, "INSERT INTO auth.user_roles (user_id, role) "
                          "VALUES (%s, 'me')", (user_id,))

    # Nhost's trigger moves updated_at on every update.
    before = query(fresh_db, "SELECT updated_at FROM auth.users "
                             "WHERE id = %s", (user_id,))[0][0]
    execute(fresh_db, "UPDATE auth.users SET display_name = 'x' "
                      "WHERE id = %s", (user_id,))
    after = query(fresh_db, "SELECT updated_at FROM auth.users "
                            "WHERE id = %s", (user_id,))[0][0]
    assert after > before

    # Deleting a user deletes its roles.
    execute(fresh_db, "DELETE FROM auth.users WHERE id = %s", (user_id,))
    assert query(fresh_db, "SELECT count(*) FROM auth.user_roles "
                           "WHERE user_id = %s", (user_id,)) == [(0,)]


def test_migrate_twice_is_a_noop(fresh_db, otpflowctl):
    migrate(otpflowctl, fresh_db)
    applied = applied_migrations(fresh_db)
    shape = {s: catalog(fresh_db, s) for s in ("auth", "otpflow")}

    migrate(otpflowctl, fresh_db)

    assert applied_migrations(fresh_db) == applied
    assert {s: catalog(fresh_db, s) for s in ("auth", "otpflow")} == shape


def test_concurrent_migrate_applies_each_file_once(fresh_db, otpflowctl):
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        procs = list(pool.map(
            lambda _: otpflowctl("migrate",
                                 env={"OTPFLOW_DATABASE_URL": fresh_db}),
            range(4)))
    for proc in procs:
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert [(v, n) for v, n, _ in applied_migrations(fresh_db)] == \
        MIGRATIONS
    assert columns(fresh_db, "auth", "users") == USERS_COLUMNS


def apply_nhost_fixture(url):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(FIXTURE.read_text())
    finally:
        conn.close()


def test_migrate_on_existing_nhost_schema(fresh_db, otpflowctl):
    apply_nhost_fixture(fresh_db)
    user_id = insert_sms_user(fresh_db, "+14155550100", "111111")
    execute(fresh_db, "UPDATE auth.users SET phone_number_verified = true, "
                      "email = 'pre@example.com' WHERE id = %s", (user_id,))
    row_before = query(fresh_db, "SELECT * FROM auth.users")
    roles_before = query(fresh_db, "SELECT * FROM auth.user_roles "
                                   "ORDER BY role")
    nhost_shape = catalog(fresh_db, "auth")

    migrate(otpflowctl, fresh_db)

    assert query(fresh_db, "SELECT * FROM auth.users") == row_before
    assert query(fresh_db, "SELECT * FROM auth.user_roles "
                           "ORDER BY role") == roles_before
    assert catalog(fresh_db, "auth") == nhost_shape
    assert query(fresh_db, "SELECT version, dirty "
                           "FROM auth.schema_migrations") == [(19, False)]
    assert columns(fresh_db, "auth", "users") == USERS_COLUMNS
    assert auth_constraints(fresh_db) == AUTH_CONSTRAINTS
    assert [(v, n) for v, n, _ in applied_migrations(fresh_db)] == \
        MIGRATIONS

    migrate(otpflowctl, fresh_db)
    assert catalog(fresh_db, "auth") == nhost_shape


def test_migrate_on_nhost_schema_needs_no_rights_on_auth(fresh_db, otpflowctl):
    """otpflow may run as a role that only reads and writes Nhost's rows and
    owns a schema `otpflow` made for it: 0001 then only reads the catalogue,
    and nothing needs the CREATE right on the database."""
    apply_nhost_fixture(fresh_db)
    role = "otpflow_mig_" + uuid.uuid4().hex[:12]
    password = uuid.uuid4().hex
    execute(fresh_db, f"""
        CREATE ROLE {role} LOGIN PASSWORD '{password}';
        CREATE SCHEMA otpflow AUTHORIZATION {role};
        GRANT USAGE ON SCHEMA auth TO {role};
        GRANT SELECT ON auth.roles TO {role};
        GRANT SELECT, INSERT, UPDATE ON auth.users, auth.user_roles
            TO {role};""")
    try:
        parts = urllib.parse.urlsplit(fresh_db)
        host = parts.netloc.rsplit("@", 1)[-1]
        role_url = urllib.parse.urlunsplit(
            parts._replace(netloc=f"{role}:{password}@{host}"))
        nhost_shape = catalog(fresh_db, "auth")

        migrate(otpflowctl, role_url)

        assert catalog(fresh_db, "auth") == nhost_shape
        owner = query(fresh_db, "SELECT nspowner::regrole::text "
                                "FROM pg_namespace WHERE nspname = 'otpflow'")
        assert owner == [(role,)]
    finally:
        execute(fresh_db, f"DROP OWNED BY {role}; DROP ROLE {role};")


def test_nhost_verification_statement(fresh_db, otpflowctl):
    migrate(otpflowctl, fresh_db)
    phone = "+14155550123"
    user_id = insert_sms_user(fresh_db, phone, "123456")
    otp_hash = query(fresh_db, "SELECT otp_hash FROM auth.users "
                               "WHERE id = %s", (user_id,))[0][0]
    assert otp_hash.startswith("$2a$06$")

    assert verify(fresh_db, phone, "654321") == []
    assert verify(fresh_db, "+14155550199", "123456") == []
    assert query(fresh_db, "SELECT phone_number_verified FROM auth.users "
                           "WHERE id = %s", (user_id,)) == [(False,)]

    assert verify(fresh_db, phone, "123456") == [user_id]
    assert query(fresh_db, "SELECT phone_number_verified FROM auth.users "
                           "WHERE id = %s", (user_id,)) == [(True,)]
    # The code is spent: verifying set its expiry to the past.
    assert verify(fresh_db, phone, "123456") == []

    expired_phone = "+14155550124"
    insert_sms_user(fresh_db, expired_phone, "123456",
                    expires_sql="now() - interval '1 second'")
    assert verify(fresh_db, expired_phone, "123456") == []

    # A code issued for e-mail does not verify over SMS.
    email_phone = "+14155550125"
    email_user = insert_sms_user(fresh_db, email_phone, "123456")
    execute(fresh_db, "UPDATE auth.users SET otp_method_last_used = 'email' "
                      "WHERE id = %s", (email_user,))
    assert verify(fresh_db, email_phone, "123456") == []
