"""Prints the end offsets of a Kafka topic as Flink's `scan.bounded.specific-offsets`
(`partition:0,offset:N;partition:1,offset:M`); run by the kafka engine's Python (kafka-python):

    python kafka_end_offsets.py BOOTSTRAP TOPIC

The end offset a broker reports is not taken as is: Tansu 0.6 (the kafka engine's broker)
reports the base offset of a partition's last record batch plus one, short of every record
after the first of that batch. So each partition is read from one before its reported end
until nothing more comes, and its end is one past the last record read — on a broker that
reports the end right, that is the reported end. Exit 1: no broker answers; 2: no such topic.
"""

import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError


def main(bootstrap: str, topic: str) -> int:
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, bootstrap_timeout_ms=10000)
    except KafkaError as e:
        print(f"error: no Kafka broker answers at {bootstrap} ({type(e).__name__}); start one, or set "
              "MLC_KAFKA_BOOTSTRAP to its host:port", file=sys.stderr)
        return 1
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            print(f"error: no topic `{topic}` at {bootstrap}", file=sys.stderr)
            return 2
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(ends[tp] - 1, 0))
        # a partition with records has at least the one before its reported end to read: wait
        # for it (a poll may come back empty before the first fetch answers), then read on
        # until a poll brings nothing
        waiting = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 60
        while True:
            batch = consumer.poll(timeout_ms=1000)
            for tp, records in batch.items():
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                waiting.discard(tp)
            if not batch and not waiting:
                break
            if time.monotonic() > deadline:
                print(f"error: no records of {sorted(tp.partition for tp in waiting)} of `{topic}` within 60 s",
                      file=sys.stderr)
                return 1
        print(";".join(f"partition:{tp.partition},offset:{ends[tp]}" for tp in tps))
        return 0
    finally:
        consumer.close()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
