"""Python baseline for `earshot-scorer serve`, as a user would write it:
confluent-kafka consume -> transformers (same MiniLM, same heads, same batch
size and thread count) -> produce, at least once (offsets stored only after
the batch's output is acknowledged, auto-commit of stored offsets, the same
librdkafka settings as earshot). Malformed mentions go to the DLQ topic.
Runs until SIGTERM.

    python_scorer_service.py --brokers HOST:PORT MODEL_DIR HEADS_DIR [--threads 2] [--batch 64]
"""

import argparse
import json
import signal
import sys
import os

from confluent_kafka import Consumer, Producer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_scorer import Scorer  # noqa: E402

REQUIRED = {"id": str, "brand": str, "text": str, "created_at": str}


def validate(payload):
    """Returns (mention, None) or (None, reason)."""
    try:
        mention = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as error:
        return None, f"invalid JSON: {error}"
    if not isinstance(mention, dict):
        return None, "not a JSON object"
    for field, kind in REQUIRED.items():
        if not isinstance(mention.get(field), kind):
            return None, f"missing or mistyped field {field}"
    return mention, None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("heads_dir")
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--input-topic", default="mentions")
    parser.add_argument("--output-topic", default="mentions.scored")
    parser.add_argument("--dlq-topic", default="mentions.dlq")
    parser.add_argument("--group-id", default="python-scorer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batch-timeout-ms", type=int, default=20)
    args = parser.parse_args()
    scorer = Scorer(args.model_dir, args.heads_dir, args.threads)

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group_id,
        "enable.auto.offset.store": False,
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 1000,
        "auto.offset.reset": "earliest",
        "queued.max.messages.kbytes": 16384,
        "fetch.wait.max.ms": 100,
    })
    producer = Producer({
        "bootstrap.servers": args.brokers,
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 60000,
    })
    failures = []

    def delivered(error, _message):
        if error is not None:
            failures.append(error)

    running = True

    def stop(_signal, _frame):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.subscribe([args.input_topic])
    print("ready", flush=True)
    while running:
        messages = [m for m in consumer.consume(args.batch, args.batch_timeout_ms / 1000) if m.error() is None]
        if not messages:
            continue
        valid = []
        for message in messages:
            mention, reason = validate(message.value())
            if mention is None:
                producer.produce(args.dlq_topic, message.value(), key=message.key(),
                                 headers={"reason": reason}, on_delivery=delivered)
            else:
                valid.append((message, mention))
        if valid:
            scores = scorer.score([mention["text"] for _, mention in valid])
            for (message, mention), (probs, toxic) in zip(valid, scores):
                scored = scorer.annotate(mention, probs, toxic)
                producer.produce(args.output_topic, json.dumps(scored, ensure_ascii=False).encode(),
                                 key=mention["brand"].encode(), on_delivery=delivered)
        producer.flush()
        if failures:
            sys.exit(f"delivery failed: {failures[0]}")
        for message in messages:
            consumer.store_offsets(message=message)
    producer.flush()
    consumer.close()


if __name__ == "__main__":
    main()
