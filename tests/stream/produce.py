"""Produces records to a Kafka topic, creating it (one partition) when missing; run by the
kafka engine's Python (kafka-python): `python produce.py BOOTSTRAP TOPIC < records.jsonl`.
Each line of stdin is one record's JSON value; prints the offset after the last record."""

import sys

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def main(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    sent = [producer.send(topic, line.strip().encode("utf-8")) for line in sys.stdin if line.strip()]
    producer.flush()
    last = max((f.get(timeout=30).offset for f in sent), default=-1)
    producer.close()
    print(last + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
