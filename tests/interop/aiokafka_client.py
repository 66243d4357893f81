"""aiokafka, the client the FastAPI services we test use, as an outside consumer of what
mailtest produces: it reads a topic with its default settings and says, for each record,
the partition it came from and the one aiokafka's own producer would have chosen for its key.

usage: aiokafka_client.py consume BROKERS TOPIC COUNT TIMEOUT_S > records (JSON lines)
       aiokafka_client.py produce BROKERS TOPIC < events (JSON lines), as a FastAPI service
       publishes: gzip, acks=all, linger 10 ms, key = the event's `email`
"""
import asyncio
import json
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner


async def consume(brokers, topic, count, timeout_s):
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=brokers, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        choose = DefaultPartitioner()
        got = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while got < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    mine = choose(record.key, partitions, partitions) if record.key else None
                    print(json.dumps({
                        "partition": record.partition,
                        "aiokafka_partition": mine,
                        "key": record.key.decode() if record.key else None,
                        "payload": json.loads(record.value),
                    }))
                    got += 1
    finally:
        await consumer.stop()
    if got < count:
        sys.exit(f"only {got} of {count} records arrived")


async def produce(brokers, topic):
    producer = AIOKafkaProducer(
        bootstrap_servers=brokers, compression_type="gzip", acks="all", linger_ms=10
    )
    await producer.start()
    sent = 0
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            event = json.loads(line)
            await producer.send_and_wait(
                topic, json.dumps(event).encode(), key=event["email"].encode()
            )
            sent += 1
    finally:
        await producer.stop()
    print(sent)


if __name__ == "__main__":
    if sys.argv[1] == "consume":
        asyncio.run(consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
    elif sys.argv[1] == "produce":
        asyncio.run(produce(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
