"""Checks docker-compose.yml and the Prometheus configs against the code.

No docker engine runs on the build machines, so this replaces running them:
every earshot service's EARSHOT_* variables must appear in its binary's
--help, its published port must be the port of its EARSHOT_HTTP_ADDR, every
file the compose file, the Dockerfiles and the Prometheus configs refer to
must exist, and Prometheus must scrape each service on its real port.
Usage: check_compose.py REPO_ROOT
"""
import re
import subprocess
import sys
from pathlib import Path

import yaml

failures = []


def check(condition: bool, message: str) -> None:
    if not condition:
        failures.append(message)


def binary_of(service: dict) -> str:
    build = service["build"]
    dockerfile = build["dockerfile"]
    if dockerfile.endswith("Dockerfile.scorer"):
        return "earshot-scorer"
    return build["args"]["SERVICE"]


def help_text(root: Path, binary: str, command: list) -> str:
    args = [str(root / "target/release" / binary)]
    # The first word of the compose command is the subcommand, if any.
    if command:
        args.append(command[0])
    elif binary == "earshot-replay":
        args.append("file")
    return subprocess.run(args + ["--help"], capture_output=True, text=True, check=True).stdout


def main() -> None:
    root = Path(sys.argv[1])
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    service_ports = {}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("./"):
                check((root / host).exists(), f"{name}: volume {host} does not exist")
        if "build" not in service:
            continue
        dockerfile = root / service["build"]["dockerfile"]
        check(dockerfile.exists(), f"{name}: {dockerfile} does not exist")
        for line in dockerfile.read_text().splitlines():
            match = re.match(r"COPY (?!--from)(\S+) ", line)
            if match and match.group(1) != ".":
                check((root / match.group(1)).exists(), f"{dockerfile.name}: COPY source {match.group(1)} does not exist")
        binary = binary_of(service)
        text = help_text(root, binary, service.get("command", []))
        for key in service.get("environment", {}):
            if key.startswith("EARSHOT_"):
                check(f"[env: {key}=" in text, f"{name}: {key} is not a flag of `{binary}` (see --help)")
        address = service.get("environment", {}).get("EARSHOT_HTTP_ADDR")
        if address:
            port = address.rsplit(":", 1)[1]
            service_ports[name] = port
            published = [p.split(":")[-1] for p in service.get("ports", [])]
            if service.get("profiles") != ["tools"]:
                check(port in published, f"{name}: http port {port} is not published ({published})")
            for published_port in service.get("ports", []):
                check(published_port.startswith("127.0.0.1:"), f"{name}: port {published_port} is not bound to 127.0.0.1")
            default = re.search(r"--http-addr <HTTP_ADDR>.*?\[default: ([^\]]+)\]", text, re.S)
            check(default is not None and default.group(1).endswith(":" + port),
                  f"{name}: compose port {port} differs from the binary's default http address")
    compose_prometheus = yaml.safe_load((root / "deploy/compose/prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in compose_prometheus["scrape_configs"]}
    for name, port in service_ports.items():
        if name == "replay":
            continue
        job = f"earshot-{name}"
        check(targets.get(job) == f"{name}:{port}", f"compose Prometheus scrapes {job} at {targets.get(job)}, service is {name}:{port}")
    local = yaml.safe_load((root / "deploy/prometheus/prometheus.yml").read_text())
    local_targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in local["scrape_configs"]}
    for name, port in service_ports.items():
        job = f"earshot-{name}"
        check(local_targets.get(job) == f"127.0.0.1:{port}", f"local Prometheus scrapes {job} at {local_targets.get(job)}, expected 127.0.0.1:{port}")
    provisioning = yaml.safe_load((root / "deploy/grafana/provisioning/dashboards/earshot.yml").read_text())
    dashboards_path = provisioning["providers"][0]["options"]["path"]
    mounted = [v for v in compose["services"]["grafana"]["volumes"] if v.split(":")[1] == dashboards_path]
    check(bool(mounted), f"grafana provisioning reads {dashboards_path}, which compose does not mount")
    if failures:
        print("\n".join(f"compose check: {failure}" for failure in failures))
        sys.exit(1)
    print(f"compose check: {len(compose['services'])} services consistent with the binaries and configs")


if __name__ == "__main__":
    main()
