#!/usr/bin/python3
"""Fills a topic with N distinct, valid SignupRequested records (as ingest
would write them) for the worker benchmarks.

usage: produce_signups.py BOOTSTRAP TOPIC N [PHONE_PREFIX]"""
import io
import json
import pathlib
import struct
import sys
import datetime
import uuid

import avro.io
import avro.schema
from confluent_kafka import Producer

bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
prefix = sys.argv[4] if len(sys.argv) > 4 else "+1555"
text = (pathlib.Path(__file__).resolve().parents[1] / "schemas" /
        "SignupRequested.avsc").read_text()
schema = avro.schema.parse(text)
schema_id = json.loads(text)["otpflow.schema_id"]
writer = avro.io.DatumWriter(schema)
producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                     "enable.idempotence": True, "acks": "all"})
now = datetime.datetime.now(datetime.timezone.utc)
for i in range(n):
    phone = f"{prefix}{i:07d}"
    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">i", schema_id))
    writer.write({"request_id": str(uuid.uuid4()), "received_at": now,
                  "phone_number": phone, "display_name": phone,
                  "locale": "en", "default_role": "user",
                  "allowed_roles": ["me", "user"], "metadata_json": "null",
                  "redirect_to": "", "client_ip": "127.0.0.1",
                  "kind": "SIGNUP", "replay_of": None},
                 avro.io.BinaryEncoder(buf))
    while True:
        try:
            producer.produce(topic, key=phone.encode(), value=buf.getvalue())
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)
if producer.flush(120) != 0:
    sys.exit("not every record was delivered")
print(n)
