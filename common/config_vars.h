/*
 * THE configuration table: every environment variable otpflow reads, with
 * type, default, which binaries use it, which require it, whether it is a
 * secret, and its documentation. config.c, the redacted dump and
 * docs/configuration.md (`otpflowctl config --markdown`) all come from here.
 *
 * X(NAME, TYPE, DEFAULT, USED_BY, REQUIRED_BY, FLAGS, DESCRIPTION)
 *   TYPE: STR, BOOL, INT, DURATION (ms), LIST (comma separated)
 *   DEFAULT: string form; NULL = no default
 *   USED_BY / REQUIRED_BY: masks of CFG_INGEST, CFG_WORKER, CFG_SENDER,
 *   CFG_CTL, CFG_DEVBROKER
 *   FLAGS: CFG_SECRET or 0
 *
 * Limits live beside the table, in the three lists after it (ranges,
 * allowed values, order between two variables): every binary checks them
 * at start with the rest, and docs/configuration.md shows them.
 *
 * Nhost's AUTH_* names are used for every concept Nhost has.
 * librdkafka properties pass through as OTPFLOW_KAFKA_<PROPERTY> (see
 * kafka.h); the bootstrap servers are listed here for their default.
 */
#define CFG_ALL (CFG_INGEST | CFG_WORKER | CFG_SENDER | CFG_CTL)
#define CFG_TOPICS (CFG_ALL | CFG_DEVBROKER)
#define CFG_DB (CFG_WORKER | CFG_SENDER | CFG_CTL)

/* The table is laid out by hand, one entry per variable. */
/* clang-format off */
#define OTPFLOW_CONFIG_VARS(X)                                                 \
	/* Common */                                                           \
	X(OTPFLOW_LOG_LEVEL, STR, "info", CFG_ALL, 0, 0,                       \
	  "Minimum log level: debug, info, warn or error.")                    \
	X(OTPFLOW_KAFKA_BOOTSTRAP_SERVERS, STR, "127.0.0.1:9092", CFG_ALL, 0, \
	  0,                                                                   \
	  "Kafka bootstrap servers (librdkafka bootstrap.servers). Any "       \
	  "other librdkafka property passes through as "                       \
	  "OTPFLOW_KAFKA_<PROPERTY>, e.g. OTPFLOW_KAFKA_SECURITY_PROTOCOL.")   \
	X(OTPFLOW_TOPIC_SIGNUP_REQUESTS, STR, "signup-requests", CFG_TOPICS, 0,  \
	  0, "Topic of SignupRequested events (ingest, replay -> worker).")    \
	X(OTPFLOW_TOPIC_SMS_OTP, STR, "sms-otp", CFG_TOPICS, 0, 0,               \
	  "Topic of OtpIssued events (worker, replay -> sender).")             \
	X(OTPFLOW_TOPIC_SMS_OTP_RETRY, STR, "sms-otp-retry", CFG_TOPICS, 0, 0,   \
	  "Topic of OtpIssued events waiting for a retry (sender -> sender).") \
	X(OTPFLOW_TOPIC_SMS_SENT, STR, "sms-sent", CFG_TOPICS, 0, 0,             \
	  "Topic of SmsSent events (sender -> observers).")                    \
	X(OTPFLOW_TOPIC_DEAD_LETTER, STR, "cannot-send-sms", CFG_TOPICS, 0, 0,   \
	  "Dead-letter topic of SmsDeadLetter events (sender -> operators).")  \
	X(OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER, STR, "signup-requests-dlt",        \
	  CFG_TOPICS, 0, 0,                                                    \
	  "Dead-letter topic of SignupDeadLetter events: requests the worker " \
	  "could not store or decode (worker -> operators, replay).")          \
	X(OTPFLOW_SCHEMA_REGISTRY_URL, STR, "", CFG_ALL, 0, 0,                 \
	  "Confluent-compatible schema registry. Empty: use the fixed schema " \
	  "ids declared in schemas/.")                                         \
	X(OTPFLOW_SCHEMA_REGISTRY_TIMEOUT, DURATION, "5s", CFG_ALL, 0, 0,      \
	  "Timeout of every schema registry call.")                            \
	X(OTPFLOW_DATABASE_URL, STR, NULL, CFG_DB, CFG_WORKER | CFG_SENDER,    \
	  CFG_SECRET,                                                          \
	  "Postgres connection: libpq conninfo or URI (TLS via sslmode); "     \
	  "otpflowctl needs it for migrate, replay and stats.")                \
	X(OTPFLOW_LEDGER_RETENTION, DURATION, "336h", CFG_WORKER | CFG_SENDER, \
	  0, 0,                                                                \
	  "How long the ledger tables keep a row (the worker's "               \
	  "processed_requests and otp_issuance, the sender's deliveries): "    \
	  "older rows are pruned in small batches. Keep it longer than any "   \
	  "topic's retention, so that a redelivered record is still known.")   \
	X(OTPFLOW_DATA_DIR, STR, NULL, CFG_WORKER | CFG_SENDER | CFG_CTL, 0, 0, \
	  "Folder holding sql/ and templates/ (default: share/otpflow under "  \
	  "the install prefix, or the source tree for an uninstalled build).") \
	X(OTPFLOW_ADMIN_LISTEN, STR, NULL, CFG_WORKER | CFG_SENDER, 0, 0,      \
	  "Address of /healthz, /readyz and /metrics of the worker (default "  \
	  "127.0.0.1:9101) and the sender (default 127.0.0.1:9102).")          \
	/* Ingest */                                                           \
	X(OTPFLOW_LISTEN, STR, "0.0.0.0:4000", CFG_INGEST, 0, 0,               \
	  "Ingest HTTP listen address, host:port.")                            \
	X(AUTH_API_PREFIX, STR, "", CFG_INGEST, 0, 0,                          \
	  "Path prefix of the API routes, e.g. /v1.")                          \
	X(OTPFLOW_MAX_BODY_BYTES, INT, "16384", CFG_INGEST, 0, 0,              \
	  "Largest accepted request body; larger ones get 413 while reading.") \
	X(OTPFLOW_ACCEPT_TIMEOUT_MS, INT, "5000", CFG_INGEST, 0, 0,            \
	  "How long ingest waits for Kafka to confirm a request before "       \
	  "answering 503.")                                                    \
	X(OTPFLOW_CONNECTION_TIMEOUT, DURATION, "10s", CFG_INGEST, 0, 0,       \
	  "Idle or slow HTTP connections are closed after this long.")         \
	X(OTPFLOW_MAX_CONNECTIONS, INT, "4096", CFG_INGEST, 0, 0,              \
	  "Total HTTP connection limit of one ingest instance.")               \
	X(OTPFLOW_MAX_CONNECTIONS_PER_IP, INT, "256", CFG_INGEST, 0, 0,        \
	  "HTTP connection limit per client IP.")                              \
	X(OTPFLOW_TRUST_PROXY, BOOL, "false", CFG_INGEST, 0, 0,                \
	  "Take the client IP from X-Forwarded-For: the right-most entry "     \
	  "that is not a trusted proxy (OTPFLOW_TRUSTED_PROXIES).")            \
	X(OTPFLOW_TRUSTED_PROXIES, LIST, "", CFG_INGEST, 0, 0,                 \
	  "Proxies whose X-Forwarded-For entries are believed, as addresses "  \
	  "or CIDR blocks (10.0.0.0/8, ::1). Empty: the socket peer only.")    \
	X(OTPFLOW_CORS_ALLOWED_ORIGINS, LIST, "", CFG_INGEST, 0, 0,            \
	  "Origins allowed to call ingest from a browser, with * globs "       \
	  "(https://*.my-app.com). Empty: every origin, as Nhost.")            \
	X(AUTH_SMS_PASSWORDLESS_ENABLED, BOOL, "false", CFG_INGEST, 0, 0,      \
	  "Enables the endpoint; when false it answers 409 "                   \
	  "disabled-endpoint (as Nhost).")                                     \
	X(AUTH_DISABLE_SIGNUP, BOOL, "false", CFG_INGEST | CFG_WORKER, 0, 0,   \
	  "When true, sign-ups get 403 signup-disabled, and a sign-in of an "  \
	  "unknown number creates no user.")                                   \
	X(AUTH_CONCEAL_ERRORS, BOOL, "false", CFG_INGEST, 0, 0,                \
	  "Answer signup-disabled and role-not-allowed as a generic 400 "      \
	  "invalid-request.")                                                  \
	X(AUTH_USER_DEFAULT_ROLE, STR, "user", CFG_INGEST, 0, 0,               \
	  "Default role of new users.")                                        \
	X(AUTH_USER_DEFAULT_ALLOWED_ROLES, LIST, "me", CFG_INGEST, 0, 0,       \
	  "Allowed roles of new users; the default role is always added.")     \
	X(AUTH_LOCALE_DEFAULT, STR, "en", CFG_INGEST | CFG_SENDER, 0, 0,       \
	  "Default locale of users and SMS templates.")                        \
	X(AUTH_LOCALE_ALLOWED_LOCALES, LIST, "en", CFG_INGEST, 0, 0,           \
	  "Allowed locales; others are replaced by the default locale.")       \
	X(AUTH_CLIENT_URL, STR, "", CFG_INGEST, 0, 0,                          \
	  "Client URL: the default redirectTo and the first allowed one.")     \
	X(AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS, LIST, "", CFG_INGEST, 0,  \
	  0, "Further allowed redirectTo URLs (wildcards * and **).")          \
	X(OTPFLOW_SMS_ALLOWED_COUNTRY_PREFIXES, LIST, "", CFG_INGEST, 0, 0,    \
	  "If set, only numbers with one of these prefixes (e.g. +1,+44) are " \
	  "accepted.")                                                         \
	X(OTPFLOW_RATE_LIMIT_MAX_CLIENTS, INT, "100000", CFG_INGEST, 0, 0,      \
	  "Most client IPs the rate limiter tracks; the least recently seen " \
	  "is forgotten first (bounded memory under a flood of IPs).")         \
	X(AUTH_RATE_LIMIT_ENABLE, BOOL, "false", CFG_INGEST, 0, 0,             \
	  "Enables the per-IP rate limits below.")                             \
	X(AUTH_RATE_LIMIT_GLOBAL_BURST, INT, "100", CFG_INGEST, 0, 0,          \
	  "Requests per IP per global interval.")                              \
	X(AUTH_RATE_LIMIT_GLOBAL_INTERVAL, DURATION, "1m", CFG_INGEST, 0, 0,   \
	  "Window of the global rate limit.")                                  \
	X(AUTH_RATE_LIMIT_SMS_BURST, INT, "10", CFG_INGEST, 0, 0,              \
	  "SMS-sending requests per IP per SMS interval.")                     \
	X(AUTH_RATE_LIMIT_SMS_INTERVAL, DURATION, "1h", CFG_INGEST, 0, 0,      \
	  "Window of the SMS rate limit.")                                     \
	X(AUTH_RATE_LIMIT_SIGNUPS_BURST, INT, "10", CFG_INGEST, 0, 0,          \
	  "Sign-ups per IP per sign-up interval.")                             \
	X(AUTH_RATE_LIMIT_SIGNUPS_INTERVAL, DURATION, "5m", CFG_INGEST, 0, 0,  \
	  "Window of the sign-up rate limit.")                                 \
	X(AUTH_RATE_LIMIT_BRUTE_FORCE_BURST, INT, "10", CFG_INGEST, 0, 0,      \
	  "Sign-in requests per IP per brute-force interval.")                 \
	X(AUTH_RATE_LIMIT_BRUTE_FORCE_INTERVAL, DURATION, "5m", CFG_INGEST, 0, \
	  0, "Window of the brute-force (sign-in) rate limit.")                \
	/* Worker */                                                           \
	X(OTPFLOW_SEAL_PUBLIC_KEY, STR, NULL, CFG_WORKER | CFG_CTL,            \
	  CFG_WORKER, 0,                                                       \
	  "Base64 libsodium box public key the OTP is sealed to "              \
	  "(otpflowctl keygen makes a pair).")                                 \
	X(OTPFLOW_OTP_TTL, DURATION, "5m", CFG_WORKER, 0, 0,                   \
	  "Validity of an issued code (as Nhost).")                            \
	X(OTPFLOW_OTP_BCRYPT_COST, INT, "6", CFG_WORKER, 0, 0,                 \
	  "bcrypt cost of otp_hash (6 is pgcrypto's default, as Nhost).")      \
	X(OTPFLOW_OTP_COOLDOWN, DURATION, "60s", CFG_WORKER, 0, 0,             \
	  "A sign-in or REISSUE within this time of the number's last code "   \
	  "gets no new code.")                                                 \
	X(OTPFLOW_OTP_MAX_PER_HOUR, INT, "5", CFG_WORKER, 0, 0,                \
	  "Most codes issued per phone number per hour.")                      \
	X(AUTH_DISABLE_NEW_USERS, BOOL, "false", CFG_WORKER, 0, 0,             \
	  "New users are created disabled.")                                   \
	X(AUTH_DISABLE_AUTO_SIGNUP, BOOL, "false", CFG_WORKER, 0, 0,           \
	  "When true, a sign-in of an unknown number creates no user (and "    \
	  "sends nothing).")                                                   \
	X(AUTH_GRAVATAR_ENABLED, BOOL, "true", CFG_WORKER, 0, 0,               \
	  "Set avatar_url to the Gravatar URL of the (empty) e-mail, as "      \
	  "Nhost does by default; false: avatar_url is ''.")                   \
	X(AUTH_GRAVATAR_DEFAULT, STR, "blank", CFG_WORKER, 0, 0,               \
	  "Gravatar fallback image style (d= parameter).")                     \
	X(AUTH_GRAVATAR_RATING, STR, "g", CFG_WORKER, 0, 0,                    \
	  "Gravatar maximum rating (r= parameter).")                           \
	X(OTPFLOW_WORKER_BATCH_SIZE, INT, "500", CFG_WORKER, 0, 0,             \
	  "Most signup-requests records handled in one Postgres transaction.") \
	X(OTPFLOW_WORKER_BATCH_TIMEOUT, DURATION, "20ms", CFG_WORKER, 0, 0,    \
	  "How long the worker waits to fill a batch.")                        \
	X(OTPFLOW_WORKER_HASH_THREADS, INT, "0", CFG_WORKER, 0, 0,             \
	  "Threads computing bcrypt hashes; 0 = one per CPU core.")            \
	/* Sender */                                                           \
	X(OTPFLOW_SEAL_SECRET_KEY, STR, NULL, CFG_SENDER | CFG_CTL,            \
	  CFG_SENDER, CFG_SECRET,                                              \
	  "Base64 libsodium box secret key that opens sealed codes.")          \
	X(OTPFLOW_SEAL_PREVIOUS_SECRET_KEY, STR, "", CFG_SENDER, 0, CFG_SECRET, \
	  "During a key rotation: the previous secret key, tried when "       \
	  "OTPFLOW_SEAL_SECRET_KEY cannot open a code (docs/operations.md).")  \
	X(OTPFLOW_SEAL_ACCEPT_UNBOUND, BOOL, "false", CFG_SENDER, 0, 0,        \
	  "During an upgrade from version 1 workers: also send codes sealed "  \
	  "without their otp_id and number (otherwise dead-lettered "          \
	  "TAMPERED); see docs/operations.md.")                                \
	X(OTPFLOW_SMS_PROVIDER, STR, "dev", CFG_SENDER, 0, 0,                  \
	  "SMS provider: twilio, modica, webhook or dev.")                     \
	X(OTPFLOW_SMS_DEV_OUTPUT, STR, "-", CFG_SENDER, 0, 0,                  \
	  "dev provider: file that gets one JSON line per SMS; - = stdout.")   \
	X(OTPFLOW_SMS_TWILIO_BASE_URL, STR, "https://api.twilio.com",          \
	  CFG_SENDER, 0, 0, "Base URL of Twilio's API (tests point it at a "   \
	  "local fake).")                                                      \
	X(OTPFLOW_TEMPLATES_DIR, STR, NULL, CFG_SENDER, 0, 0,                  \
	  "Folder of <locale>/sms-otp.txt templates (default: templates/ in "  \
	  "OTPFLOW_DATA_DIR).")                                                \
	X(AUTH_SMS_TWILIO_ACCOUNT_SID, STR, "", CFG_SENDER, 0, 0,              \
	  "twilio provider: account SID (as Nhost).")                          \
	X(AUTH_SMS_TWILIO_AUTH_TOKEN, STR, "", CFG_SENDER, 0, CFG_SECRET,      \
	  "twilio provider: auth token (as Nhost).")                           \
	X(AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID, STR, "", CFG_SENDER, 0, 0,     \
	  "twilio provider: sender, as Nhost: a Messaging Service SID (MG...) " \
	  "is sent as MessagingServiceSid, anything else (a phone number or "  \
	  "alphanumeric sender id) as From.")                                  \
	X(AUTH_SMS_MODICA_USERNAME, STR, "", CFG_SENDER, 0, 0,                 \
	  "modica provider: application name (as Nhost).")                     \
	X(AUTH_SMS_MODICA_PASSWORD, STR, "", CFG_SENDER, 0, CFG_SECRET,        \
	  "modica provider: application password (as Nhost).")                \
	X(OTPFLOW_SMS_MODICA_BASE_URL, STR, "https://api.modicagroup.com",     \
	  CFG_SENDER, 0, 0, "modica provider: base URL of the Mobile Gateway " \
	  "REST API.")                                                         \
	X(OTPFLOW_SMS_WEBHOOK_URL, STR, "", CFG_SENDER, 0, CFG_SECRET,         \
	  "webhook provider: URL the SMS is POSTed to (secret: URLs often "    \
	  "carry tokens).")                                                    \
	X(OTPFLOW_SMS_WEBHOOK_CONTENT_TYPE, STR, "application/json",           \
	  CFG_SENDER, 0, 0, "webhook provider: Content-Type of the body; "     \
	  "with application/json the values are JSON-escaped, with "           \
	  "application/x-www-form-urlencoded URL-encoded.")                    \
	X(OTPFLOW_SMS_WEBHOOK_HEADERS, LIST, "", CFG_SENDER, 0, CFG_SECRET,    \
	  "webhook provider: extra request headers, comma separated "          \
	  "\"Name: value\" items (e.g. Authorization).")                       \
	X(OTPFLOW_SMS_WEBHOOK_BODY, STR, "{\"to\":\"${to}\",\"body\":\"${body}\"}", \
	  CFG_SENDER, 0, 0, "webhook provider: body template; ${to} and "     \
	  "${body} are replaced (escaped for the content type).")              \
	X(OTPFLOW_SMS_MAX_IN_FLIGHT, INT, "512", CFG_SENDER, 0, 0,             \
	  "Most provider requests in flight at once (never more than one per " \
	  "phone number).")                                                    \
	X(OTPFLOW_SMS_MAX_PENDING, INT, "5000", CFG_SENDER, 0, 0,             \
	  "Most records from OTPFLOW_TOPIC_SMS_OTP held in memory (queued "    \
	  "per number or in flight); that topic pauses above it.")             \
	X(OTPFLOW_SMS_MAX_RETRY_PENDING, INT, "5000", CFG_SENDER, 0, 0,       \
	  "Most records from OTPFLOW_TOPIC_SMS_OTP_RETRY held in memory "      \
	  "(mostly waiting out their backoff); that topic pauses above it, "   \
	  "fresh codes keep flowing.")                                         \
	X(OTPFLOW_SMS_CONNECT_TIMEOUT, DURATION, "5s", CFG_SENDER, 0, 0,       \
	  "Provider connect timeout.")                                         \
	X(OTPFLOW_SMS_TIMEOUT, DURATION, "15s", CFG_SENDER, 0, 0,              \
	  "Total time limit of one provider request; a timeout is transient.") \
	X(OTPFLOW_SMS_MAX_ATTEMPTS, INT, "5", CFG_SENDER, 0, 0,                \
	  "Provider attempts per code before RETRIES_EXHAUSTED.")              \
	X(OTPFLOW_SMS_BACKOFF_INITIAL, DURATION, "1s", CFG_SENDER, 0, 0,       \
	  "Delay before the first retry; doubled each attempt, with jitter.")  \
	X(OTPFLOW_SMS_BACKOFF_MAX, DURATION, "60s", CFG_SENDER, 0, 0,          \
	  "Longest delay between two attempts (a longer Retry-After wins).")   \
	X(OTPFLOW_SMS_EXPIRY_MARGIN, DURATION, "30s", CFG_SENDER, 0, 0,        \
	  "No attempt is made later than expires_at minus this margin; such "  \
	  "codes are dead-lettered EXPIRED.")                                  \
	X(OTPFLOW_SMS_LEASE_MARGIN, DURATION, "45s", CFG_SENDER, 0, 0,         \
	  "A claim on a code is a lease of OTPFLOW_SMS_TIMEOUT plus this "     \
	  "margin: another sender meeting the same code meanwhile (after a "   \
	  "rebalance) waits instead of sending it again; an expired lease "    \
	  "(its holder died) is taken over.")                                  \
	X(OTPFLOW_SMS_PAUSE_PROBE, DURATION, "30s", CFG_SENDER, 0, 0,          \
	  "While paused by a provider configuration error (401/403), one "     \
	  "send is retried this often to detect the fix.")                     \
	X(OTPFLOW_SMS_CLASSIFY, LIST, "", CFG_SENDER, 0, 0,                    \
	  "Overrides of the outcome table, comma separated KEY=CLASS with "    \
	  "KEY an HTTP status (429), a status class (5xx), a provider error "  \
	  "code (code:21211) or a transport failure (timeout, connect) and "   \
	  "CLASS success, transient, permanent or config. Codes win over "     \
	  "statuses, statuses over classes.")                                  \
	/* otpflowctl */                                                       \
	X(OTPFLOW_REPLAY_MIN_VALIDITY, DURATION, "60s", CFG_CTL, 0, 0,         \
	  "replay re-sends a dead-lettered code only if it stays valid this "  \
	  "long; otherwise it asks the worker for a fresh one.")

/*
 * R(NAME, MIN, MAX): an INT variable's number, or a DURATION's milliseconds,
 * must lie in [MIN, MAX].
 */
#define OTPFLOW_CONFIG_RANGES(R)                                               \
	R(OTPFLOW_SCHEMA_REGISTRY_TIMEOUT, 100, 60000)                         \
	R(OTPFLOW_LEDGER_RETENTION, 1000, 315360000000LL)                      \
	R(OTPFLOW_MAX_BODY_BYTES, 16, 16777216)                                \
	R(OTPFLOW_ACCEPT_TIMEOUT_MS, 100, 600000)                              \
	R(OTPFLOW_CONNECTION_TIMEOUT, 0, 3600000)                              \
	R(OTPFLOW_MAX_CONNECTIONS, 1, 1000000)                                 \
	R(OTPFLOW_MAX_CONNECTIONS_PER_IP, 1, 1000000)                          \
	R(OTPFLOW_RATE_LIMIT_MAX_CLIENTS, 1, 16777216)                         \
	R(AUTH_RATE_LIMIT_GLOBAL_BURST, 0, 1073741824)                         \
	R(AUTH_RATE_LIMIT_GLOBAL_INTERVAL, 1, 4294967296LL)                    \
	R(AUTH_RATE_LIMIT_SMS_BURST, 0, 1073741824)                            \
	R(AUTH_RATE_LIMIT_SMS_INTERVAL, 1, 4294967296LL)                       \
	R(AUTH_RATE_LIMIT_SIGNUPS_BURST, 0, 1073741824)                        \
	R(AUTH_RATE_LIMIT_SIGNUPS_INTERVAL, 1, 4294967296LL)                   \
	R(AUTH_RATE_LIMIT_BRUTE_FORCE_BURST, 0, 1073741824)                    \
	R(AUTH_RATE_LIMIT_BRUTE_FORCE_INTERVAL, 1, 4294967296LL)               \
	R(OTPFLOW_OTP_TTL, 1000, 86400000)                                     \
	R(OTPFLOW_OTP_BCRYPT_COST, 4, 31)                                      \
	R(OTPFLOW_OTP_COOLDOWN, 0, 86400000)                                   \
	R(OTPFLOW_OTP_MAX_PER_HOUR, 1, 1000)                                   \
	R(OTPFLOW_WORKER_BATCH_SIZE, 1, 10000)                                 \
	R(OTPFLOW_WORKER_BATCH_TIMEOUT, 0, 10000)                              \
	R(OTPFLOW_WORKER_HASH_THREADS, 0, 256)                                 \
	R(OTPFLOW_SMS_MAX_IN_FLIGHT, 1, 65536)                                 \
	R(OTPFLOW_SMS_MAX_PENDING, 1, 10000000)                                \
	R(OTPFLOW_SMS_MAX_RETRY_PENDING, 1, 10000000)                          \
	R(OTPFLOW_SMS_CONNECT_TIMEOUT, 1, 300000)                              \
	R(OTPFLOW_SMS_TIMEOUT, 1, 600000)                                      \
	R(OTPFLOW_SMS_MAX_ATTEMPTS, 1, 1000)                                   \
	R(OTPFLOW_SMS_BACKOFF_INITIAL, 1, 3600000)                             \
	R(OTPFLOW_SMS_BACKOFF_MAX, 1, 86400000)                                \
	R(OTPFLOW_SMS_EXPIRY_MARGIN, 0, 3600000)                               \
	R(OTPFLOW_SMS_LEASE_MARGIN, 1000, 3600000)                             \
	R(OTPFLOW_SMS_PAUSE_PROBE, 100, 3600000)                               \
	R(OTPFLOW_REPLAY_MIN_VALIDITY, 0, 86400000)

/* C(NAME, "a b c"): a STR variable must be one of the listed words. */
#define OTPFLOW_CONFIG_CHOICES(C)                                              \
	C(OTPFLOW_LOG_LEVEL, "debug info warn error")                          \
	C(OTPFLOW_SMS_PROVIDER, "twilio modica webhook dev")

/* O(LOW, HIGH): LOW's value must not exceed HIGH's (same type). */
#define OTPFLOW_CONFIG_ORDERS(O)                                               \
	O(OTPFLOW_SMS_BACKOFF_INITIAL, OTPFLOW_SMS_BACKOFF_MAX)                \
	O(OTPFLOW_SMS_MAX_IN_FLIGHT, OTPFLOW_SMS_MAX_PENDING)
/* clang-format on */
