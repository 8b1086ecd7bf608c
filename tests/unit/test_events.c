/* events: every schema round-trips, evolves backward, rejects bad input. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "events.h"

static const char *const samples[EVENTS__COUNT] = {
	"{\"request_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	"\"received_at\":1764000000123,\"phone_number\":\"+14155550123\","
	"\"display_name\":\"Zoë 😀\",\"locale\":\"en\",\"default_role\":\"user\","
	"\"allowed_roles\":[\"me\",\"user\"],"
	"\"metadata_json\":\"{\\\"firstName\\\":\\\"John\\\"}\","
	"\"redirect_to\":\"https://my-app.com/catch\",\"client_ip\":\"127.0.0.1\","
	"\"kind\":\"SIGNUP\",\"replay_of\":null}",

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
	"\"original_partition\":3,\"original_offset\":42,\"raw_value\":null}",
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
		CHECK_INT(events_encode(ev, t, in, &buf, &len, err, sizeof(err)),
			  0);
		p = buf;
		CHECK(len > 5 && p[0] == 0 && p[4] == (unsigned)(t + 1));
		CHECK_INT(events_decode(ev, t, buf, len, &out, err, sizeof(err)),
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

		json_array_append_new(
			json_object_get(reader, "fields"),
			json_pack("{s:s,s:s,s:s}", "name", "added_later",
				  "type", "string", "default", "dflt"));
		reader_text = json_dumps(reader, JSON_COMPACT);
		CHECK_INT(events_encode(ev, t, in, &buf, &len, err, sizeof(err)),
			  0);
		CHECK_INT(events_decode_resolved(events_avsc[t], reader_text,
						 (char *)buf + 5, len - 5, &out,
						 err, sizeof(err)),
			  0);
		if (err[0])
			fprintf(stderr, "%s: %s\n", events_name(t), err);
		CHECK_STR(json_string_value(json_object_get(out, "added_later")),
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

/* The OtpIssued nested in SmsDeadLetter is the same record as OtpIssued. */
static void test_dead_letter_embeds_otp_issued(void)
{
	json_t *otp = json_loads(events_avsc[EVENTS_OTP_ISSUED], 0, NULL);
	json_t *dl = json_loads(events_avsc[EVENTS_SMS_DEAD_LETTER], 0, NULL);
	json_t *nested = json_array_get(
		json_object_get(json_array_get(json_object_get(dl, "fields"), 0),
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

static void test_bad_input(struct events *ev)
{
	static const unsigned char wrong_magic[] = { 1, 0, 0, 0, 1, 2 };
	static const unsigned char unknown_id[] = { 0, 0, 0, 0, 99, 2 };
	static const unsigned char huge_string[] = { 0,    0,    0,    0,   1,
						     0x48, 0xfe, 0xff, 0xff, 0x0f };
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
	for (int t = 0; t < EVENTS__COUNT; t++)
		CHECK_INT(events_schema_id(ev, t), t + 1);
	test_round_trips(ev);
	test_backward_evolution(ev);
	test_dead_letter_embeds_otp_issued();
	test_bad_input(ev);
	events_destroy(ev);
	return check_done("events");
}
