"""An outside Kafka client (confluent-kafka) for interop tests: produce or consume JSON lines.

usage: kafka_client.py produce BROKERS TOPIC < lines
       kafka_client.py consume BROKERS TOPIC COUNT TIMEOUT_S > records
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer


def produce(brokers, topic):
    producer = Producer({"bootstrap.servers": brokers, "acks": "all"})
    sent = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        event = json.loads(line)
        producer.produce(
            topic,
            key=event["recipient"]["email"],
            value=line.encode(),
            headers=[("event_type", event["event_type"]), ("event_id", event["event_id"])],
        )
        sent += 1
    left = producer.flush(30)
    if left:
        sys.exit(f"{left} messages not delivered")
    print(sent)


def consume(brokers, topic, count, timeout_s):
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": "interop-python",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    got = 0
    deadline = time.monotonic() + timeout_s
    while got < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            sys.exit(f"consumer error: {msg.error()}")
        headers = {k: v.decode() for k, v in (msg.headers() or [])}
        print(json.dumps({"key": msg.key().decode() if msg.key() else None,
                          "headers": headers, "payload": json.loads(msg.value())}))
        got += 1
    consumer.close()
    if got < count:
        sys.exit(f"only {got} of {count} messages arrived")


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3])
    else:
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
