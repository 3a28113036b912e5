"""Bare librdkafka baseline for replay: sends a JSONL file keyed by brand with
confluent-kafka and the same producer settings as earshot's Producer, and
prints mentions/s. Keys are extracted before the clock starts, so that this
measures librdkafka and the broker, not Python's JSON parser."""

import argparse
import json
import sys
import time

from confluent_kafka import Producer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--input", required=True)
    args = parser.parse_args()

    records = []
    with open(args.input, "rb") as lines:
        for line in lines:
            line = line.rstrip(b"\r\n")
            if line:
                records.append((json.loads(line)["brand"].encode(), line))

    producer = Producer(
        {
            "bootstrap.servers": args.brokers,
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 60000,
        }
    )
    failures = 0

    def on_delivery(error, _message):
        nonlocal failures
        if error is not None:
            failures += 1

    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(args.topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.005)
        producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if remaining or failures:
        sys.exit(f"{remaining} undelivered, {failures} failed")
    print(json.dumps({"sent": len(records), "seconds": elapsed, "per_second": len(records) / elapsed}))


if __name__ == "__main__":
    main()
