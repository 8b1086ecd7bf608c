#!/usr/bin/python3
"""Reproducer of a librdkafka 2.0.2 loss (bench/README.md, "Accepted records
lost"): an idempotent producer writing to a topic right after creating it
gets success reports for records the broker refused (NOT_LEADER ...
"implicitly acked by subsequent batch success"). Each round creates a
6-partition topic, produces MSGS keyed records at once, and counts the
records reported delivered that are not on the topic.

usage: kafka_loss_repro.py BOOTSTRAP ROUNDS MSGS [MAX_IN_FLIGHT (default 5)]
"""
import sys, time, uuid
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bs, rounds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bs})
bad = 0
for r in range(rounds):
    t = f"repro-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(t, 6, 1)])[t].result(30)
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 2, "message.timeout.ms": 5000, "max.in.flight.requests.per.connection": int(sys.argv[4]) if len(sys.argv) > 4 else 5})
    ok = set(); errs = {}
    def dr(err, msg):
        if err is None: ok.add(msg.key())
        else: errs[str(err.name())] = errs.get(str(err.name()), 0) + 1
    for i in range(n):
        p.produce(t, key=f"k{i}".encode(), value=b"x", on_delivery=dr)
        p.poll(0)
        time.sleep(0.0005)
    p.flush(30)
    c = Consumer({"bootstrap.servers": bs, "group.id": "repro"})
    stored = sum(c.get_watermark_offsets(TopicPartition(t, i), timeout=30)[1] for i in range(6))
    c.close()
    flag = "LOSS" if stored < len(ok) else "ok"
    if stored < len(ok): bad += 1
    print(f"round {r}: {len(ok)} delivered ok, {errs} failed, {stored} stored: {flag}", flush=True)
print("rounds with loss:", bad)
