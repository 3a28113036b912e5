"""Checks deploy/kustomization.yaml and deploy/k8s/ against the code.

No cluster runs on the build machines, so this replaces applying them: every
resource and generated file exists; every earshot container's subcommand and
EARSHOT_* variables exist in its binary's --help; its container port is the
port of its EARSHOT_HTTP_ADDR; probes and Services point at that port and at
real endpoints (/health, /metrics); ConfigMaps, Secrets and volumes referenced
are defined or optional; the KEDA trigger watches the scorer's real consumer
group and input topic and never scales past the topic's partitions; images
match the kustomize image list.
Usage: check_k8s.py REPO_ROOT
"""
import re
import subprocess
import sys
from pathlib import Path

import yaml

failures = []
BINARY_OF_IMAGE = {
    "earshot/scorer": "earshot-scorer",
    "earshot/alerter": "earshot-alerter",
    "earshot/exporter": "earshot-exporter",
}
ENDPOINTS = {"/health", "/metrics"}


def check(condition: bool, message: str) -> None:
    if not condition:
        failures.append(message)


def has_env(text: str, key: str) -> bool:
    # Secret flags hide their values: "[env: KEY]" rather than "[env: KEY=...]".
    return f"[env: {key}=" in text or f"[env: {key}]" in text


def help_text(root: Path, binary: str, args: list) -> str:
    command = [str(root / "target/release" / binary)] + args[:1] + ["--help"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def main() -> None:
    root = Path(sys.argv[1])
    deploy = root / "deploy"
    kustomization = yaml.safe_load((deploy / "kustomization.yaml").read_text())
    documents = []
    for resource in kustomization["resources"]:
        path = deploy / resource
        check(path.exists(), f"kustomization: resource {resource} does not exist")
        if path.exists():
            documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    generated = set()
    for generator in kustomization.get("configMapGenerator", []):
        generated.add(generator["name"])
        for entry in generator.get("files", []):
            source = entry.split("=", 1)[-1]
            check((deploy / source).exists(), f"configMapGenerator {generator['name']}: {source} does not exist")
    image_names = {image["name"] for image in kustomization.get("images", [])}
    config_maps = generated | {d["metadata"]["name"] for d in documents if d["kind"] == "ConfigMap"}
    by_kind = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)

    topic_partitions = None
    for job in by_kind.get("Job", []):
        script = " ".join(job["spec"]["template"]["spec"]["containers"][0].get("args", []))
        match = re.search(r"--partitions (\d+)", script)
        if match:
            topic_partitions = int(match.group(1))
    check(topic_partitions is not None, "no Job creates the topics with --partitions")

    deployments = {}
    for deployment in by_kind.get("Deployment", []):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]
        check(deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items(),
              f"{name}: selector does not match the pod labels")
        volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume:
                check(volume["configMap"]["name"] in config_maps, f"{name}: volume uses unknown ConfigMap {volume['configMap']['name']}")
        for container in pod["spec"]["containers"]:
            image = container["image"]
            check(image in image_names, f"{name}: image {image} is not in the kustomize image list")
            binary = BINARY_OF_IMAGE.get(image)
            check(binary is not None, f"{name}: unknown earshot image {image}")
            if binary is None:
                continue
            args = container.get("args", [])
            text = help_text(root, binary, args)
            env = {item["name"]: item for item in container.get("env", [])}
            for key, item in env.items():
                check(has_env(text, key), f"{name}: {key} is not a flag of `{binary} {' '.join(args[:1])}`")
                secret = item.get("valueFrom", {}).get("secretKeyRef")
                if secret:
                    check(secret.get("optional") is True, f"{name}: {key} needs Secret {secret['name']} (mark it optional or ship it)")
                    check(any(word in key for word in ("PASSWORD", "TOKEN", "WEBHOOK_URL")), f"{name}: {key} comes from a Secret but is not a secret")
                value = item.get("value", "")
                check(not ("PASSWORD" in key or "TOKEN" in key) or not value, f"{name}: secret {key} written in plain text")
            for source in container.get("envFrom", []):
                reference = source.get("configMapRef", {}).get("name")
                check(reference in config_maps, f"{name}: envFrom unknown ConfigMap {reference}")
                for document in by_kind.get("ConfigMap", []):
                    if document["metadata"]["name"] == reference:
                        for key in document.get("data", {}):
                            check(has_env(text, key), f"{name}: ConfigMap {reference} sets {key}, not a flag of `{binary}`")
            address = env.get("EARSHOT_HTTP_ADDR", {}).get("value", "")
            check(address.startswith("0.0.0.0:"), f"{name}: EARSHOT_HTTP_ADDR must listen on the pod IP (0.0.0.0:PORT), got {address!r}")
            port = int(address.rsplit(":", 1)[-1]) if ":" in address else None
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            check(ports.get("http") == port, f"{name}: containerPort http {ports.get('http')} differs from EARSHOT_HTTP_ADDR port {port}")
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(probe_name)
                if probe is None:
                    check(probe_name == "startupProbe", f"{name}: no {probe_name}")
                    continue
                get = probe["httpGet"]
                check(get["path"] in ENDPOINTS, f"{name}: {probe_name} path {get['path']} is not served")
                check(get["port"] in ("http", port), f"{name}: {probe_name} port {get['port']} is not the http port")
            check(container["readinessProbe"]["httpGet"]["path"] == "/health", f"{name}: readiness must use /health")
            check(container["livenessProbe"]["httpGet"]["path"] == "/metrics",
                  f"{name}: liveness on /health would restart pods during a broker outage")
            check("requests" in container.get("resources", {}), f"{name}: no resource requests")
            for mount in container.get("volumeMounts", []):
                check(mount["name"] in volumes, f"{name}: mounts unknown volume {mount['name']}")
            config_path = env.get("EARSHOT_ALERTER_CONFIG", {}).get("value")
            if config_path:
                mounted = any(config_path.startswith(m["mountPath"] + "/") for m in container.get("volumeMounts", []))
                check(mounted, f"{name}: {config_path} is not under a mounted volume")
            annotations = pod["metadata"].get("annotations", {})
            check(annotations.get("prometheus.io/port") == str(port), f"{name}: prometheus.io/port differs from {port}")
            deployments[name] = {"labels": pod["metadata"]["labels"], "port": port, "env": env, "help": text}

    for service in by_kind.get("Service", []):
        name = service["metadata"]["name"]
        target = deployments.get(name)
        check(target is not None, f"Service {name} has no Deployment of that name")
        if target is None:
            continue
        check(service["spec"]["selector"].items() <= target["labels"].items(), f"Service {name}: selector matches no pod")
        for port in service["spec"]["ports"]:
            check(port["port"] == target["port"], f"Service {name}: port {port['port']} differs from {target['port']}")
            check(port["targetPort"] in ("http", target["port"]), f"Service {name}: targetPort {port['targetPort']}")

    scaled = by_kind.get("ScaledObject", [])
    check(bool(scaled), "no lag-based autoscaling (KEDA ScaledObject) for the scorer")
    for scaled_object in scaled:
        target_name = scaled_object["spec"]["scaleTargetRef"]["name"]
        target = deployments.get(target_name)
        check(target is not None, f"ScaledObject targets unknown Deployment {target_name}")
        if target is None:
            continue
        check(topic_partitions is None or scaled_object["spec"]["maxReplicaCount"] <= topic_partitions,
              f"ScaledObject {target_name}: maxReplicaCount beyond {topic_partitions} partitions")
        for trigger in scaled_object["spec"]["triggers"]:
            check(trigger["type"] == "kafka", f"ScaledObject {target_name}: trigger {trigger['type']}")
            metadata = trigger["metadata"]
            group = target["env"].get("EARSHOT_GROUP_ID", {}).get("value")
            check(metadata["consumerGroup"] == group, f"ScaledObject {target_name}: group {metadata['consumerGroup']} != {group}")
            topic = target["env"].get("EARSHOT_INPUT_TOPIC", {}).get("value")
            check(metadata["topic"] == topic, f"ScaledObject {target_name}: topic {metadata['topic']} != {topic}")
            kafka = next(d for d in by_kind["ConfigMap"] if d["metadata"]["name"] == "earshot-kafka")
            check(metadata["bootstrapServers"] == kafka["data"]["EARSHOT_BROKERS"],
                  f"ScaledObject {target_name}: bootstrapServers differs from EARSHOT_BROKERS")

    if failures:
        print("\n".join(f"k8s check: {failure}" for failure in failures))
        sys.exit(1)
    print(f"k8s check: {len(documents)} manifests consistent with the binaries and configs")


if __name__ == "__main__":
    main()
