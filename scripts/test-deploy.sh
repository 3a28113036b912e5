#!/usr/bin/env bash
# Checks the Prometheus and Alertmanager files with the real tools:
# promtool check config/rules, promtool test rules (unit tests with input
# series for every rule), amtool check-config, and the routing tree.
source "$(dirname "$0")/common.sh"
cd "$ROOT/deploy"
step "promtool check config and rules"
promtool check config prometheus/prometheus.yml >/dev/null
promtool check rules prometheus/rules/*.yml
step "promtool test rules"
(cd prometheus/tests && promtool test rules rules_test.yml)
step "amtool check-config"
amtool check-config alertmanager/alertmanager.yml >/dev/null
step "alertmanager routing"
route() { amtool config routes test --config.file=alertmanager/alertmanager.yml "$@"; }
expect_route() {
  local want="$1"; shift
  local got; got="$(route "$@")"
  [ "$got" = "$want" ] || die "labels $* routed to '$got', expected '$want'"
  note "$* -> $got"
}
expect_route pager alertname=EarshotCrisis severity=critical brand=acme kind=negative_surge
expect_route chat alertname=EarshotCrisis severity=warning brand=acme kind=volume_spike
expect_route null alertname=EarshotCrisis severity=watch brand=acme kind=volume_spike
expect_route ops alertname=EarshotServiceDown severity=critical team=ops
step "docker-compose.yml and Dockerfiles against the binaries' --help"
"$VENV/bin/python" "$ROOT/scripts/check_compose.py" "$ROOT"
step "Kubernetes manifests (deploy/kustomization.yaml, deploy/k8s/) against the binaries' --help"
"$VENV/bin/python" "$ROOT/scripts/check_k8s.py" "$ROOT"
