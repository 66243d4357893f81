"""The Kafka peer on tansu, where Debian's kcat cannot go (its librdkafka 2.0.2 fails the
ApiVersions exchange with tansu): confluent-kafka, with mailtest's producer settings. Prints
the seconds taken.
    python3 kafka_rate.py produce BROKERS TOPIC FILE     (JSON lines, keyed by recipient)
    python3 kafka_rate.py consume BROKERS TOPIC COUNT"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

mode, brokers, topic, arg = sys.argv[1:5]
if mode == "produce":
    lines = [(json.loads(line)["recipient"]["email"], line.rstrip("\n")) for line in open(arg)]
    producer = Producer({"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True,
                         "compression.type": "zstd", "linger.ms": 10})
    start = time.monotonic()
    for key, value in lines:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(60):
        sys.exit("not everything was delivered")
else:
    count = int(arg)
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    start = time.monotonic()
    # Assigned, not subscribed, like `mailtest consume` without a group: no group join timed.
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    got = 0
    while got < count:
        for msg in consumer.consume(1000, 1.0):
            if msg.error():
                sys.exit(f"consumer error: {msg.error()}")
            got += 1
        if time.monotonic() - start > 120:
            sys.exit(f"read {got} of {count}")
    consumer.close()
print(f"{time.monotonic() - start:.4f}")
