#!/usr/bin/env bash
# compat-check.sh BOOTSTRAP - checks that Debian's librdkafka (kcat and
# python3-confluent-kafka) works against a broker: metadata, idempotent produce
# with acks=all, consume, consumer group (kcat -G), transactions with
# read_committed, and send_offsets_to_transaction. Used to pick the default
# Kafka version in scripts/kafka.sh (Kafka 4.0 removed old protocol versions,
# KIP-896). Example:
#   b=$(OTPFLOW_BROKER_VERSION=4.4.0 scripts/kafka.sh start) && scripts/kafka/compat-check.sh "$b"
# Prints PASS/FAIL lines and "N passed, N failed"; exit 1 on any failure.
set -uo pipefail
case "${1:-}" in ""|-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac
B=$1; T=compat-$$-$RANDOM; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()  { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

if timeout 15 kcat -L -b "$B" -m 5 >"$tmp/meta" 2>&1 && grep -q 'broker [0-9]* at' "$tmp/meta"
then ok "metadata"; else bad "metadata"; cat "$tmp/meta"; fi

if seq 1 100 | sed 's/^/k:msg-/' | timeout 30 kcat -P -b "$B" -t "$T" -K: \
     -X acks=all -X enable.idempotence=true 2>"$tmp/prod"
then ok "idempotent produce, acks=all"; else bad "produce"; cat "$tmp/prod"; fi

n=$(timeout 30 kcat -C -b "$B" -t "$T" -o beginning -e -q 2>"$tmp/cons" | wc -l)
if [ "$n" = 100 ]; then ok "consume (100)"; else bad "consume got $n"; cat "$tmp/cons"; fi

n=$(timeout 40 kcat -b "$B" -G "grp-$T" "$T" -o beginning -e -q \
      -X auto.offset.reset=earliest 2>"$tmp/grp" | wc -l)
if [ "$n" = 100 ]; then ok "consumer group -G (100)"; else bad "group got $n"; tail -5 "$tmp/grp"; fi

# Debian's interpreter: python3-confluent-kafka is a Debian package.
if timeout 120 /usr/bin/python3 - "$B" "$T" <<'PY'
import sys, time
import confluent_kafka as ck
b, t = sys.argv[1], sys.argv[2] + "-tx"
p = ck.Producer({"bootstrap.servers": b, "transactional.id": "tx-" + t, "acks": "all"})
p.init_transactions(30); p.begin_transaction()
for i in range(10):
    p.produce(t, value=b"x%d" % i)
p.commit_transaction(30)
# consume-transform-produce with offsets committed in the transaction
p2 = ck.Producer({"bootstrap.servers": b, "transactional.id": "tx2-" + t, "acks": "all"})
p2.init_transactions(30)
c = ck.Consumer({"bootstrap.servers": b, "group.id": "g-" + t, "auto.offset.reset": "earliest",
                 "isolation.level": "read_committed", "enable.auto.commit": False})
c.subscribe([t]); msgs = []; end = time.time() + 30
while len(msgs) < 10 and time.time() < end:
    m = c.poll(1)
    if m is not None and not m.error():
        msgs.append(m)
p2.begin_transaction()
for m in msgs:
    p2.produce(t + "-out", value=m.value())
pos = c.position(c.assignment())
p2.send_offsets_to_transaction(pos, c.consumer_group_metadata(), 30)
p2.commit_transaction(30)
c.close()
c3 = ck.Consumer({"bootstrap.servers": b, "group.id": "g-" + t})
parts = [ck.TopicPartition(t, x.partition) for x in pos]
committed = {x.partition: x.offset for x in c3.committed(parts, 10)}
c3.close()
want = {x.partition: x.offset for x in pos}
print("librdkafka %s: read_committed %d, offsets committed in txn %s" %
      (ck.libversion()[0], len(msgs), committed == want))
sys.exit(0 if len(msgs) == 10 and committed == want else 1)
PY
then ok "transactions + send_offsets_to_transaction"; else bad "transactions"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
