/*
 * events: every schema round-trips, evolves backward, rejects bad input,
 * and the encoder writes the very bytes avro-c writes.
 */
#include <avro.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "events.h"

static const char *const samples[EVENTS__COUNT] = {
	"{\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"received_at\":1764000000123,"
	"\"phone_number\":\"+1 (415) 555-0123\",\"phone_e164\":\"+14155550123\","
	"\"display_name\":\"Zoë 😀\",\"locale\":\"en\",\"default_role\":\"user\","
	"\"allowed_roles\":[\"me\",\"user\"],"
	"\"metadata_json\":\"{\\\"firstName\\\":\\\"John\\\"}\","
	"\"redirect_to\":\"https://my-app.com/catch\",\"client_ip\":\"127.0.0.1\","
	"\"kind\":\"SIGNIN\",\"replay_of\":null}",

	"{\"otp_id\":\"2b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"user_id\":\"3b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"phone_number\":\"+14155550123\",\"locale\":\"fr\","
	"\"otp_sealed\":\"AAECAwQFBgcICQ==\",\"issued_at\":1764000000500,"
	"\"expires_at\":1764000300500}",

	"{\"otp_id\":\"2b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"user_id\":\"3b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"provider\":\"twilio\",\"provider_message_id\":\"SM123\","
	"\"attempts\":2,\"sent_at\":1764000001000,\"accepted_latency_ms\":877}",

	"{\"otp\":{\"otp_id\":\"2b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"user_id\":\"3b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"phone_number\":\"+14155550123\",\"locale\":\"fr\","
	"\"otp_sealed\":\"AAECAwQFBgcICQ==\",\"issued_at\":1764000000500,"
	"\"expires_at\":1764000300500},"
	"\"reason\":\"PERMANENT\",\"provider\":\"twilio\",\"http_status\":400,"
	"\"provider_code\":\"21211\",\"error_message\":\"invalid number\","
	"\"attempts\":1,\"first_attempt_at\":1764000001000,"
	"\"last_attempt_at\":1764000001000,\"original_topic\":\"sms-otp\","
	"\"original_partition\":3,\"original_offset\":42,\"raw_value\":null,"
	"\"raw_value_length\":null,\"raw_value_sha256\":null}",

	"{\"request\":{\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"received_at\":1764000000123,\"phone_number\":\"+14155550123\","
	"\"phone_e164\":\"+14155550123\",\"display_name\":\"Zoë\",\"locale\":\"en\",\"default_role\":\"user\","
	"\"allowed_roles\":[\"me\",\"user\"],\"metadata_json\":\"null\","
	"\"redirect_to\":\"https://my-app.com\",\"client_ip\":null,"
	"\"kind\":\"SIGNUP\",\"replay_of\":null},"
	"\"raw_value\":null,\"raw_value_length\":null,"
	"\"raw_value_sha256\":null,\"reason\":\"UNSTORABLE\","
	"\"error_message\":\"violates foreign key constraint\","
	"\"sqlstate\":\"23503\",\"attempts\":2,"
	"\"original_topic\":\"signup-requests\",\"original_partition\":1,"
	"\"original_offset\":7,\"dead_lettered_at\":1764000002000}",
};

static void test_round_trips(struct events *ev)
{
	for (int t = 0; t < EVENTS__COUNT; t++) {
		json_t *in = json_loads(samples[t], 0, NULL), *out = NULL;
		void *buf = NULL;
		size_t len = 0;
		char err[256] = "";
		const unsigned char *p;

		CHECK(in != NULL);
		CHECK_INT(events_encode(ev, t, in, &buf, &len, err,
					sizeof(err)),
			  0);
		p = buf;
		CHECK(len > 5 && p[0] == 0 &&
		      ((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
		       (uint32_t)p[3] << 8 | p[4]) ==
			      (uint32_t)events_schema_id(ev, t));
		CHECK_INT(events_decode(ev, t, buf, len, &out, err,
					sizeof(err)),
			  0);
		if (err[0])
			fprintf(stderr, "%s: %s\n", events_name(t), err);
		CHECK(out && json_equal(in, out));
		free(buf);
		json_decref(in);
		json_decref(out);
	}
}

/* BACKWARD: a record written now decodes with a reader that adds a field. */
static void test_backward_evolution(struct events *ev)
{
	for (int t = 0; t < EVENTS__COUNT; t++) {
		json_t *reader = json_loads(events_avsc[t], 0, NULL);
		json_t *in = json_loads(samples[t], 0, NULL), *out = NULL;
		char *reader_text;
		void *buf = NULL;
		size_t len = 0;
		char err[256] = "";

		json_array_append_new(json_object_get(reader, "fields"),
				      json_pack("{s:s,s:s,s:s}", "name",
						"added_later", "type", "string",
						"default", "dflt"));
		reader_text = json_dumps(reader, JSON_COMPACT);
		CHECK_INT(events_encode(ev, t, in, &buf, &len, err,
					sizeof(err)),
			  0);
		CHECK_INT(events_decode_resolved(events_avsc[t], reader_text,
						 (char *)buf + 5, len - 5, &out,
						 err, sizeof(err)),
			  0);
		if (err[0])
			fprintf(stderr, "%s: %s\n", events_name(t), err);
		CHECK_STR(
			json_string_value(json_object_get(out, "added_later")),
			"dflt");
		json_object_del(out, "added_later");
		CHECK(out && json_equal(in, out));
		free(reader_text);
		free(buf);
		json_decref(reader);
		json_decref(in);
		json_decref(out);
	}
}

/* The "otpflow.schema_id" of a schema text. */
static int declared_id(const char *avsc)
{
	json_t *root = json_loads(avsc, 0, NULL);
	int id = (int)json_integer_value(
		json_object_get(root, "otpflow.schema_id"));

	json_decref(root);
	return id;
}

/*
 * A record written by a version 1 producer (SignupRequested, fixed id 1,
 * schemas/previous/), still in the topic when the worker is upgraded,
 * decodes with today's reader: phone_e164 null (its phone_number is the
 * E.164 form), every other field as written.
 */
static void test_version1_signup_requested_decodes(struct events *ev)
{
	const char *v1_text = NULL;
	json_t *in = json_loads(
		"{\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
		"\"received_at\":1764000000123,\"phone_number\":\"+14155550123\","
		"\"display_name\":\"+14155550123\",\"locale\":\"en\","
		"\"default_role\":\"user\",\"allowed_roles\":[\"me\",\"user\"],"
		"\"metadata_json\":\"null\",\"redirect_to\":\"https://a.com\","
		"\"client_ip\":\"127.0.0.1\",\"kind\":\"REISSUE\","
		"\"replay_of\":null}",
		0, NULL);
	json_t *out = NULL;
	unsigned char *framed = NULL;
	void *body = NULL;
	size_t len = 0;
	char err[256] = "";

	for (int i = 0; events_avsc_previous[i]; i++)
		if (declared_id(events_avsc_previous[i]) == 1)
			v1_text = events_avsc_previous[i];
	CHECK(v1_text != NULL && in != NULL);
	if (!v1_text)
		return;
	CHECK(strstr(v1_text, "phone_e164") == NULL);
	CHECK_INT(events_encode_raw(v1_text, in, &body, &len, err, sizeof(err)),
		  0);
	framed = malloc(len + 5);
	framed[0] = 0;
	framed[1] = framed[2] = framed[3] = 0;
	framed[4] = 1; /* version 1's fixed id */
	memcpy(framed + 5, body, len);
	CHECK_INT(events_decode(ev, EVENTS_SIGNUP_REQUESTED, framed, len + 5,
				&out, err, sizeof(err)),
		  0);
	if (err[0])
		fprintf(stderr, "  v1 decode: %s\n", err);
	CHECK(out && json_is_null(json_object_get(out, "phone_e164")));
	json_object_del(out, "phone_e164");
	CHECK(out && json_equal(in, out));
	CHECK(events_schema_id(ev, EVENTS_SIGNUP_REQUESTED) != 1);
	json_decref(out);
	json_decref(in);
	free(framed);
	free(body);
}

/* The OtpIssued nested in SmsDeadLetter is the same record as OtpIssued. */
static void test_dead_letter_embeds_otp_issued(void)
{
	json_t *otp = json_loads(events_avsc[EVENTS_OTP_ISSUED], 0, NULL);
	json_t *dl = json_loads(events_avsc[EVENTS_SMS_DEAD_LETTER], 0, NULL);
	json_t *nested = json_array_get(
		json_object_get(json_array_get(json_object_get(dl, "fields"),
					       0),
				"type"),
		1);

	CHECK(nested != NULL);
	CHECK(json_equal(json_object_get(otp, "fields"),
			 json_object_get(nested, "fields")));
	CHECK(json_equal(json_object_get(otp, "name"),
			 json_object_get(nested, "name")));
	json_decref(otp);
	json_decref(dl);
}

/* The SignupRequested nested in SignupDeadLetter is SignupRequested. */
static void test_signup_dead_letter_embeds_signup_requested(void)
{
	json_t *req = json_loads(events_avsc[EVENTS_SIGNUP_REQUESTED], 0, NULL);
	json_t *dl =
		json_loads(events_avsc[EVENTS_SIGNUP_DEAD_LETTER], 0, NULL);
	json_t *nested = json_array_get(
		json_object_get(json_array_get(json_object_get(dl, "fields"),
					       0),
				"type"),
		1);

	CHECK(nested != NULL);
	CHECK(json_equal(json_object_get(req, "fields"),
			 json_object_get(nested, "fields")));
	CHECK(json_equal(json_object_get(req, "name"),
			 json_object_get(nested, "name")));
	json_decref(req);
	json_decref(dl);
}

/*
 * Proves that the len bytes at data, written by events.c, are what avro-c
 * writes for the value they hold: avro-c reads them back whole to the value
 * of the JSON text want, and avro-c's writer, given that value, writes the
 * same bytes (which also pins the array and map block layout).
 */
static void check_as_avro_c(const char *schema_json, const void *data,
			    size_t len, const char *want)
{
	avro_schema_t schema = NULL;
	avro_value_iface_t *iface = NULL;
	avro_value_t v;
	avro_reader_t r = NULL;
	avro_writer_t w = NULL;
	size_t size = 0;
	char *again = NULL;
	json_t *in = json_loads(want, JSON_ALLOW_NUL, NULL), *out = NULL;
	char err[256] = "";

	CHECK(in != NULL);
	CHECK_INT(avro_schema_from_json_length(schema_json, strlen(schema_json),
					       &schema),
		  0);
	iface = avro_generic_class_from_schema(schema);
	CHECK(iface && avro_generic_value_new(iface, &v) == 0);
	r = avro_reader_memory(data, (int64_t)len);
	CHECK_INT(avro_value_read(r, &v), 0);
	CHECK_INT(avro_value_sizeof(&v, &size), 0);
	CHECK_INT(size, len);
	again = malloc(size ? size : 1);
	w = avro_writer_memory(again, (int64_t)size);
	CHECK_INT(avro_value_write(w, &v), 0);
	CHECK(size == len && memcmp(again, data, len) == 0);
	CHECK_INT(events_decode_resolved(schema_json, schema_json, data, len,
					 &out, err, sizeof(err)),
		  0);
	if (err[0])
		fprintf(stderr, "  decode: %s\n", err);
	CHECK(out && json_equal(in, out));
	json_decref(out);
	json_decref(in);
	avro_writer_free(w);
	avro_reader_free(r);
	free(again);
	avro_value_decref(&v);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
}

/* Variants of the samples: nulls, empty and long values, edge numbers. */
static const struct {
	enum events_type type;
	const char *json;
} variants[] = {
	{ EVENTS_SIGNUP_REQUESTED,
	  "{\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	  "\"received_at\":0,\"phone_number\":\"+14155550123\","
	  "\"phone_e164\":null,"
	  "\"display_name\":\"\",\"locale\":\"fil\",\"default_role\":\"user\","
	  "\"allowed_roles\":[],\"metadata_json\":\"null\","
	  "\"redirect_to\":\"\",\"client_ip\":null,"
	  "\"kind\":\"REISSUE\","
	  "\"replay_of\":\"2b4e28ba-2fa1-11d2-883f-0016d3cca427\"}" },
	{ EVENTS_SIGNUP_REQUESTED,
	  "{\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	  "\"received_at\":-1,\"phone_number\":\"+14155550123\","
	  "\"phone_e164\":\"+14155550123\","
	  "\"display_name\":\"\\u0000\\u00e9\",\"locale\":\"en\","
	  "\"default_role\":\"user\","
	  "\"allowed_roles\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\"],"
	  "\"metadata_json\":\"{}\",\"redirect_to\":\"x\","
	  "\"client_ip\":\"::1\",\"kind\":\"SIGNUP\",\"replay_of\":null}" },
	{ EVENTS_SMS_SENT,
	  "{\"otp_id\":\"2b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	  "\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	  "\"user_id\":\"3b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	  "\"provider\":\"\",\"provider_message_id\":\"\","
	  "\"attempts\":-2147483648,\"sent_at\":9223372036854775807,"
	  "\"accepted_latency_ms\":-9223372036854775808}" },
	{ EVENTS_SMS_DEAD_LETTER,
	  "{\"otp\":null,\"reason\":\"UNDECODABLE\",\"provider\":\"twilio\","
	  "\"http_status\":null,\"provider_code\":null,"
	  "\"error_message\":\"\",\"attempts\":2147483647,"
	  "\"first_attempt_at\":1,\"last_attempt_at\":2,"
	  "\"original_topic\":\"sms-otp\",\"original_partition\":0,"
	  "\"original_offset\":0,\"raw_value\":\"AA==\","
	  "\"raw_value_length\":1099511627776,"
	  "\"raw_value_sha256\":\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb3"
	  "3738768511a30617afa01d\"}" },
};

/* Every Avro type the encoder knows, a named type used twice (a link). */
static const char all_types_schema[] =
	"{\"type\":\"record\",\"name\":\"All\",\"fields\":["
	"{\"name\":\"n\",\"type\":\"null\"},"
	"{\"name\":\"b\",\"type\":\"boolean\"},"
	"{\"name\":\"i\",\"type\":\"int\"},"
	"{\"name\":\"l\",\"type\":\"long\"},"
	"{\"name\":\"f\",\"type\":\"float\"},"
	"{\"name\":\"d\",\"type\":\"double\"},"
	"{\"name\":\"s\",\"type\":\"string\"},"
	"{\"name\":\"y\",\"type\":\"bytes\"},"
	"{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
	"\"symbols\":[\"A\",\"B\",\"C\"]}},"
	"{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
	"{\"name\":\"m\",\"type\":{\"type\":\"map\","
	"\"values\":[\"null\",\"double\"]}},"
	"{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"Inner\","
	"\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}},"
	"{\"name\":\"r2\",\"type\":\"Inner\"},"
	"{\"name\":\"ra\",\"type\":{\"type\":\"array\",\"items\":\"Inner\"}},"
	"{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]}"
	"]}";

static const char *const all_types_samples[] = {
	"{\"n\":null,\"b\":true,\"i\":-2147483648,\"l\":-9223372036854775808,"
	"\"f\":-2.25,\"d\":0.1,\"s\":\"Zo\\u00eb \\ud83d\\ude00\","
	"\"y\":\"AAECAwQFBgcICQ==\",\"e\":\"C\",\"a\":[0,-1,1,64,-65,8192],"
	"\"m\":{\"k1\":1.5,\"k2\":null,\"\":-0.0},\"r\":{\"x\":2147483647},"
	"\"r2\":{\"x\":0},\"ra\":[{\"x\":1},{\"x\":-1}],\"u\":\"text\"}",
	"{\"n\":null,\"b\":false,\"i\":0,\"l\":9223372036854775807,"
	"\"f\":0.5,\"d\":-1e300,\"s\":\"\",\"y\":\"\",\"e\":\"A\",\"a\":[],"
	"\"m\":{},\"r\":{\"x\":-5},\"r2\":{\"x\":5},\"ra\":[],\"u\":-7}",
};

/* Integers where reals go, an absent optional field: as read back. */
static const char all_types_loose[] =
	"{\"n\":null,\"b\":true,\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"s\":\"s\","
	"\"y\":\"AA==\",\"e\":\"B\",\"a\":[1],\"m\":{\"one\":2},"
	"\"r\":{\"x\":1},\"r2\":{\"x\":1},\"ra\":[{\"x\":1}]}";
static const char all_types_loose_read[] =
	"{\"n\":null,\"b\":true,\"i\":1,\"l\":1,\"f\":1.0,\"d\":1.0,"
	"\"s\":\"s\",\"y\":\"AA==\",\"e\":\"B\",\"a\":[1],"
	"\"m\":{\"one\":2.0},\"r\":{\"x\":1},\"r2\":{\"x\":1},"
	"\"ra\":[{\"x\":1}],\"u\":null}";

static void check_event(struct events *ev, enum events_type t, const char *json)
{
	json_t *in = json_loads(json, JSON_ALLOW_NUL, NULL);
	void *buf = NULL;
	size_t len = 0;
	char err[256] = "";

	CHECK(in != NULL);
	CHECK_INT(events_encode(ev, t, in, &buf, &len, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s: %s\n", events_name(t), err);
	if (buf && len > 5)
		check_as_avro_c(events_avsc[t], (char *)buf + 5, len - 5, json);
	free(buf);
	json_decref(in);
}

static void test_same_bytes_as_avro_c(struct events *ev)
{
	json_t *big;
	char *text, *long_text;
	size_t i, n = 5000;

	for (i = 0; i < EVENTS__COUNT; i++)
		check_event(ev, (enum events_type)i, samples[i]);
	for (i = 0; i < sizeof(variants) / sizeof(*variants); i++)
		check_event(ev, variants[i].type, variants[i].json);

	/* Past the encoder's first buffer size, and multi-byte lengths. */
	big = json_loads(samples[EVENTS_SIGNUP_REQUESTED], 0, NULL);
	long_text = malloc(n + 1);
	memset(long_text, 'x', n);
	long_text[n] = '\0';
	json_object_set_new(big, "metadata_json", json_string(long_text));
	for (i = 0; i < 300; i++)
		json_array_append_new(json_object_get(big, "allowed_roles"),
				      json_string("role"));
	text = json_dumps(big, JSON_COMPACT);
	check_event(ev, EVENTS_SIGNUP_REQUESTED, text);
	free(text);
	free(long_text);
	json_decref(big);

	for (i = 0; i <= sizeof(all_types_samples) / sizeof(*all_types_samples);
	     i++) {
		bool loose = i == sizeof(all_types_samples) /
					  sizeof(*all_types_samples);
		json_t *in = json_loads(loose ? all_types_loose :
						all_types_samples[i],
					0, NULL);
		void *buf = NULL;
		size_t len = 0;
		char err[256] = "";

		CHECK(in != NULL);
		CHECK_INT(events_encode_raw(all_types_schema, in, &buf, &len,
					    err, sizeof(err)),
			  0);
		if (err[0])
			fprintf(stderr, "  all types %zu: %s\n", i, err);
		if (buf)
			check_as_avro_c(all_types_schema, buf, len,
					loose ? all_types_loose_read :
						all_types_samples[i]);
		free(buf);
		json_decref(in);
	}
}

/* Each refusal names the field path, never the value. */
static void test_encode_errors(void)
{
	static const struct {
		const char *key, *value, *message;
	} cases[] = {
		{ "i", "2147483648", "i: out of range" },
		{ "i", "\"1\"", "i: wrong JSON type" },
		{ "e", "\"D\"", "e: unknown symbol" },
		{ "y", "\"***\"", "y: invalid base64" },
		{ "u", "true", "u: no union branch fits" },
		{ "r", "1", "r: expected an object" },
		{ "r", "{}", "missing field r.x" },
		{ "r", "{\"x\":1,\"zz\":2}", "unknown field r.zz" },
		{ "ra", "[{\"x\":1},{\"x\":\"1\"}]", "ra.x: wrong JSON type" },
		{ "m", "{\"k\":\"v\"}", "m: no union branch fits" },
		{ "zz", "1", "unknown field zz" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		json_t *in = json_loads(all_types_samples[1], 0, NULL);
		void *buf = NULL;
		size_t len = 0;
		char err[256] = "";

		json_object_set_new(in, cases[i].key,
				    json_loads(cases[i].value, JSON_DECODE_ANY,
					       NULL));
		CHECK(events_encode_raw(all_types_schema, in, &buf, &len, err,
					sizeof(err)) < 0);
		CHECK_STR(err, cases[i].message);
		CHECK(buf == NULL);
		json_decref(in);
	}
}

static void test_bad_input(struct events *ev)
{
	static const unsigned char wrong_magic[] = { 1, 0, 0, 0, 1, 2 };
	static const unsigned char unknown_id[] = { 0, 0, 0, 0, 99, 2 };
	static const unsigned char huge_string[] = { 0,	   0,	 0,    0,
						     1,	   0x48, 0xfe, 0xff,
						     0xff, 0x0f };
	json_t *in = json_loads(samples[EVENTS_SMS_SENT], 0, NULL), *out = NULL;
	void *buf = NULL;
	size_t len = 0;
	char err[256];

	CHECK(events_decode(ev, EVENTS_SMS_SENT, wrong_magic,
			    sizeof(wrong_magic), &out, err, sizeof(err)) < 0);
	CHECK(events_decode(ev, EVENTS_SMS_SENT, unknown_id, sizeof(unknown_id),
			    &out, err, sizeof(err)) < 0);
	CHECK(events_decode(ev, EVENTS_SIGNUP_REQUESTED, huge_string,
			    sizeof(huge_string), &out, err, sizeof(err)) < 0);
	CHECK(events_decode(ev, EVENTS_SMS_SENT, "", 0, &out, err,
			    sizeof(err)) < 0);

	/* Every truncation of a valid record is rejected, none crashes. */
	CHECK_INT(events_encode(ev, EVENTS_SMS_SENT, in, &buf, &len, err,
				sizeof(err)),
		  0);
	for (size_t cut = 0; cut < len; cut++) {
		out = NULL;
		CHECK(events_decode(ev, EVENTS_SMS_SENT, buf, cut, &out, err,
				    sizeof(err)) < 0);
	}
	/* Trailing garbage is rejected too. */
	{
		unsigned char *longer = malloc(len + 1);
		memcpy(longer, buf, len);
		longer[len] = 7;
		CHECK(events_decode(ev, EVENTS_SMS_SENT, longer, len + 1, &out,
				    err, sizeof(err)) < 0);
		free(longer);
	}
	free(buf);

	/* Encoding checks fields: unknown, missing, wrong type. */
	json_object_set_new(in, "surprise", json_true());
	CHECK(events_encode(ev, EVENTS_SMS_SENT, in, &buf, &len, err,
			    sizeof(err)) < 0);
	CHECK(strstr(err, "surprise") != NULL);
	json_object_del(in, "surprise");
	json_object_del(in, "attempts");
	CHECK(events_encode(ev, EVENTS_SMS_SENT, in, &buf, &len, err,
			    sizeof(err)) < 0);
	CHECK(strstr(err, "attempts") != NULL);
	json_object_set_new(in, "attempts", json_string("two"));
	CHECK(events_encode(ev, EVENTS_SMS_SENT, in, &buf, &len, err,
			    sizeof(err)) < 0);
	json_decref(in);
}

/* The text of a file of the source tree (malloc'd), or NULL. */
static char *source_file(const char *rel)
{
	const char *dir = getenv("OTPFLOW_SOURCE_DIR");
	char path[4096];
	json_error_t jerr;
	json_t *doc;
	char *text;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", rel);
	doc = json_load_file(path, 0, &jerr);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

/*
 * SmsDeadLetter version 1 (id 4, before TAMPERED, raw_value_length and
 * raw_value_sha256): its records decode with today's schema, the new
 * fields null; a v1 record of every v1 reason still decodes.
 */
static void test_dead_letter_v1_decodes(void)
{
	static const char *const v1_reasons[] = { "PERMANENT", "EXPIRED",
						  "RETRIES_EXHAUSTED", "CONFIG",
						  "UNDECODABLE" };
	char *v1 = source_file("schemas/previous/SmsDeadLetter.4.avsc");
	const char *now = events_avsc[EVENTS_SMS_DEAD_LETTER];

	CHECK(v1 != NULL);
	for (size_t r = 0; v1 && r < 5; r++) {
		json_t *in =
			json_loads(samples[EVENTS_SMS_DEAD_LETTER], 0, NULL);
		json_t *out = NULL;
		void *buf = NULL;
		size_t len = 0;
		char err[256] = "";

		json_object_del(in, "raw_value_length");
		json_object_del(in, "raw_value_sha256");
		json_object_set_new(in, "reason", json_string(v1_reasons[r]));
		CHECK_INT(events_encode_raw(v1, in, &buf, &len, err,
					    sizeof(err)),
			  0);
		CHECK_INT(events_decode_resolved(v1, now, buf, len, &out, err,
						 sizeof(err)),
			  0);
		if (err[0])
			fprintf(stderr, "SmsDeadLetter v1: %s\n", err);
		CHECK(json_is_null(json_object_get(out, "raw_value_length")));
		CHECK(json_is_null(json_object_get(out, "raw_value_sha256")));
		CHECK_STR(json_string_value(json_object_get(out, "reason")),
			  v1_reasons[r]);
		json_object_del(out, "raw_value_length");
		json_object_del(out, "raw_value_sha256");
		CHECK(out && json_equal(in, out));
		free(buf);
		json_decref(in);
		json_decref(out);
	}
	free(v1);
}

int main(void)
{
	char err[256];
	const char *topics[EVENTS__COUNT] = { 0 };
	struct events *ev = events_new(NULL, topics, 1000, err, sizeof(err));

	CHECK(ev != NULL);
	if (!ev) {
		fprintf(stderr, "events_new: %s\n", err);
		return check_done("events");
	}
	/* The fixed ids declared in schemas/. */
	for (int t = 0; t < EVENTS__COUNT; t++)
		CHECK_INT(events_schema_id(ev, t), declared_id(events_avsc[t]));
	test_dead_letter_v1_decodes();
	test_round_trips(ev);
	test_backward_evolution(ev);
	test_version1_signup_requested_decodes(ev);
	test_dead_letter_embeds_otp_issued();
	test_signup_dead_letter_embeds_signup_requested();
	test_bad_input(ev);
	test_same_bytes_as_avro_c(ev);
	test_encode_errors();
	events_destroy(ev);
	return check_done("events");
}
