"""Prints the first N records of a topic (all partitions), with DLQ headers."""
import argparse
import json

from confluent_kafka import Consumer, TopicPartition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--raw", action="store_true", help="print each value as is, one per line")
    args = parser.parse_args()
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": "earshot-peek", "enable.auto.commit": False})
    metadata = consumer.list_topics(args.topic, timeout=10)
    partitions = [TopicPartition(args.topic, p, 0) for p in metadata.topics[args.topic].partitions]
    consumer.assign(partitions)
    shown = 0
    empty_polls = 0
    while shown < args.count and empty_polls < 10:
        message = consumer.poll(0.5)
        if message is None or message.error():
            empty_polls += 1
            continue
        if args.raw:
            print(message.value().decode("utf-8", "replace"))
            shown += 1
            continue
        headers = {k: v.decode("utf-8", "replace") for k, v in (message.headers() or []) if k.startswith("earshot.dlq")}
        try:
            body = json.loads(message.value())
            line = {k: body.get(k) for k in ("id", "brand", "text", "sentiment", "toxicity") if k in body} or body
        except (ValueError, UnicodeDecodeError):
            line = {"raw": repr(message.value()[:120])}
        if headers:
            line["dlq"] = headers
        print(json.dumps(line, ensure_ascii=False)[:400])
        shown += 1
    consumer.close()


if __name__ == "__main__":
    main()
