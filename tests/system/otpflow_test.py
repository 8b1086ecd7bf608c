"""Helpers shared by the system tests: paths, and an independent decoder of
otpflow's Kafka values (Confluent framing + Avro, with Debian's python3-avro,
so the C encoder is checked against another implementation)."""

import io
import json
import os
import pathlib
import struct

import avro.io
import avro.schema

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("OTPFLOW_BUILD_DIR", REPO / "build"))

SCHEMAS = {}
for path in (REPO / "schemas").glob("*.avsc"):
    text = path.read_text()
    SCHEMAS[json.loads(text)["otpflow.schema_id"]] = avro.schema.parse(text)


def avro_decode(value):
    """Decodes a framed value into (record name, dict)."""
    assert value[0] == 0, "magic byte"
    (schema_id,) = struct.unpack(">i", value[1:5])
    schema = SCHEMAS[schema_id]
    decoder = avro.io.BinaryDecoder(io.BytesIO(value[5:]))
    record = avro.io.DatumReader(schema).read(decoder)
    return schema.name, record
