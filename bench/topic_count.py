#!/usr/bin/python3
"""Prints the number of records in a fresh topic: the sum of its partitions'
end offsets (exact for a topic that is only appended to, non-transactional)."""
import sys

from confluent_kafka import Consumer, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "otpflow-bench"})
md = c.list_topics(topic, timeout=30)
total = 0
for p in md.topics[topic].partitions:
    total += c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
c.close()
print(total)
