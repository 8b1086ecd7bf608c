/*
 * otpflowctl tail: decodes any otpflow topic to JSON lines — coordinates,
 * timestamp, key, headers and the decoded record. Phone numbers (key and
 * phone_number fields) are masked unless --unmask. Codes are never in
 * plaintext on topics (only sealed), so nothing else needs hiding.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "events.h"
#include "kafka.h"
#include "phone.h"
#include "signals.h"

#define METADATA_TIMEOUT_MS 30000

/* The event type a topic carries (by configured name), or -1. */
static int type_of_topic(const struct cfg *cfg, const char *topic)
{
	static const struct {
		enum cfg_id var;
		enum events_type type;
	} map[] = {
		{ CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS, EVENTS_SIGNUP_REQUESTED },
		{ CFG_OTPFLOW_TOPIC_SMS_OTP, EVENTS_OTP_ISSUED },
		{ CFG_OTPFLOW_TOPIC_SMS_OTP_RETRY, EVENTS_OTP_ISSUED },
		{ CFG_OTPFLOW_TOPIC_SMS_SENT, EVENTS_SMS_SENT },
		{ CFG_OTPFLOW_TOPIC_DEAD_LETTER, EVENTS_SMS_DEAD_LETTER },
		{ CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER,
		  EVENTS_SIGNUP_DEAD_LETTER },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(cfg_str(cfg, map[i].var), topic) == 0)
			return (int)map[i].type;
	return -1;
}

/* The mask of a number; one kept as sent is masked in its E.164 form
 * (one that is not a number at all: every character). */
static json_t *masked_phone(const char *phone, size_t len, bool unmask)
{
	char buf[64], e164[PHONE_MAX], masked[64];

	snprintf(buf, sizeof(buf), "%.*s", (int)(len < 63 ? len : 63), phone);
	if (unmask)
		return json_stringn(phone, len);
	if (phone_normalise(phone, len, e164, sizeof(e164)))
		phone_mask(e164, masked, sizeof(masked));
	else
		phone_mask(buf, masked, sizeof(masked));
	return json_string(masked);
}

static bool is_phone_field(const char *key)
{
	return strcmp(key, "phone_number") == 0 ||
	       strcmp(key, "phone_e164") == 0;
}

/*
 * Masks phone_number and phone_e164 fields wherever they are (OtpIssued
 * nests in DLT), and a display_name that is the phone number (ingest's
 * default).
 */
static void mask_record(json_t *rec)
{
	json_t *phone = json_object_get(rec, "phone_number");
	json_t *name = json_object_get(rec, "display_name");
	const char *key;
	json_t *val;

	if (phone && name && json_equal(phone, name))
		json_object_set_new(rec, "display_name",
				    masked_phone(json_string_value(phone),
						 json_string_length(phone),
						 false));
	json_object_foreach(rec, key, val)
	{
		if (json_is_object(val))
			mask_record(val);
		else if (is_phone_field(key) && json_is_string(val))
			json_object_set_new(
				rec, key,
				masked_phone(json_string_value(val),
					     json_string_length(val), false));
	}
}

static json_t *headers_of(const rd_kafka_message_t *rkm)
{
	rd_kafka_headers_t *hdrs = NULL;
	json_t *out = json_object();
	const char *name;
	const void *val;
	size_t size;

	if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return out;
	for (size_t i = 0;
	     !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		json_t *v = val ? json_stringn(val, size) : json_null();
		json_object_set_new(out, name, v ? v : json_string("(binary)"));
	}
	return out;
}

static void print_record(struct events *ev, int type,
			 const rd_kafka_message_t *rkm, bool unmask)
{
	json_t *line = json_object();
	json_t *rec = NULL;
	char errstr[256];
	char *text;

	json_object_set_new(line, "topic",
			    json_string(rd_kafka_topic_name(rkm->rkt)));
	json_object_set_new(line, "partition", json_integer(rkm->partition));
	json_object_set_new(line, "offset", json_integer(rkm->offset));
	json_object_set_new(
		line, "timestamp",
		json_integer(rd_kafka_message_timestamp(rkm, NULL)));
	json_object_set_new(line, "key",
			    rkm->key ? masked_phone(rkm->key, rkm->key_len,
						    unmask) :
				       json_null());
	json_object_set_new(line, "headers", headers_of(rkm));
	if (type < 0) {
		json_object_set_new(line, "error",
				    json_string("not an otpflow topic"));
	} else if (events_decode(ev, (enum events_type)type, rkm->payload,
				 rkm->len, &rec, errstr, sizeof(errstr))) {
		json_object_set_new(line, "error", json_string(errstr));
		json_object_set_new(line, "value_bytes",
				    json_integer((json_int_t)rkm->len));
	} else {
		if (!unmask)
			mask_record(rec);
		json_object_set_new(
			line, "type",
			json_string(events_name((enum events_type)type)));
		json_object_set_new(line, "value", rec);
	}
	text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (text)
		puts(text);
	fflush(stdout);
	free(text);
	json_decref(line);
}

int ctl_tail(int argc, char **argv)
{
	const char *topic = NULL;
	bool from_beginning = false, unmask = false, follow = true;
	long long count = -1, seen = 0;
	char errstr[512], group[64];
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	struct events *ev = NULL;
	rd_kafka_t *rk = NULL;
	struct cfg cfg;
	int type, rc = CTL_FAILED, eof_left = 0;

	if (ctl_help(
		    argc, argv,
		    "usage: otpflowctl tail TOPIC [--from-beginning] [--count N] "
		    "[--no-follow] [--unmask]\n\n"
		    "Prints the records of an otpflow topic as JSON lines: "
		    "topic, partition,\noffset, timestamp, key, headers and the "
		    "decoded record. Starts at the end\n(new records only) "
		    "unless --from-beginning; follows until Ctrl-C unless\n"
		    "--no-follow (stop at the end) or --count N (stop after N "
		    "records).\nPhone numbers are masked (+1415*****23) unless "
		    "--unmask."))
		return CTL_OK;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--from-beginning") == 0)
			from_beginning = true;
		else if (strcmp(argv[i], "--unmask") == 0)
			unmask = true;
		else if (strcmp(argv[i], "--no-follow") == 0)
			follow = false;
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atoll(argv[++i]);
		else if (argv[i][0] != '-' && !topic)
			topic = argv[i];
		else {
			fprintf(stderr,
				"otpflowctl tail: bad argument %s "
				"(try --help)\n",
				argv[i]);
			return CTL_USAGE;
		}
	}
	if (!topic || count == 0 || count < -1) {
		fprintf(stderr, "otpflowctl tail: a TOPIC is required and "
				"--count must be positive (try --help)\n");
		return CTL_USAGE;
	}
	if (ctl_config_load(&cfg, "tail", false))
		return CTL_USAGE;
	signals_install();
	type = type_of_topic(&cfg, topic);
	ev = events_from_config(&cfg, errstr, sizeof(errstr));
	snprintf(group, sizeof(group), "otpflowctl-tail-%d", (int)getpid());
	{
		const char *overrides[] = { "enable.auto.commit", "false",
					    "enable.partition.eof", "true",
					    NULL };
		if (ev)
			rk = kafka_consumer_new(&cfg, group, NULL, overrides,
						NULL, NULL, errstr,
						sizeof(errstr));
	}
	if (!rk) {
		fprintf(stderr, "otpflowctl tail: %s\n", errstr);
		goto out;
	}
	{
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
		rd_kafka_resp_err_t err =
			rd_kafka_metadata(rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
		rd_kafka_topic_destroy(rkt);
		if (err || md->topic_cnt != 1 || md->topics[0].err) {
			fprintf(stderr, "otpflowctl tail: topic %s: %s\n",
				topic,
				rd_kafka_err2str(err ? err :
						       md->topics[0].err));
			goto out;
		}
	}
	parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int p = 0; p < md->topics[0].partition_cnt; p++)
		rd_kafka_topic_partition_list_add(
			parts, topic, md->topics[0].partitions[p].id)
			->offset = from_beginning ? RD_KAFKA_OFFSET_BEGINNING :
						    RD_KAFKA_OFFSET_END;
	eof_left = parts->cnt;
	rd_kafka_assign(rk, parts);
	while (!signals_stop_requested() && (count < 0 || seen < count)) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);

		if (!rkm)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (!follow && --eof_left <= 0) {
				rd_kafka_message_destroy(rkm);
				break;
			}
		} else if (rkm->err) {
			fprintf(stderr, "otpflowctl tail: %s\n",
				rd_kafka_message_errstr(rkm));
		} else {
			print_record(ev, type, rkm, unmask);
			seen++;
		}
		rd_kafka_message_destroy(rkm);
	}
	rc = CTL_OK;
out:
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (md)
		rd_kafka_metadata_destroy(md);
	kafka_consumer_close(rk, CLOSE_TIMEOUT_MS);
	events_destroy(ev);
	cfg_free(&cfg);
	return rc;
}
