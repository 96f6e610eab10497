#!/usr/bin/env bash
# Validates the deployment files without a cluster or a Docker daemon:
#   1. renders deploy/base and deploy/overlays/production with `kubectl kustomize`;
#   2. checks the rendered objects: schemas with kubeconform (or else kubernetes-validate)
#      if on PATH, then our own checks (apiVersion/kind/metadata.name, namespace, probes,
#      resources, security context, scrape annotations, references between objects);
#   3. checks docker-compose.yml (YAML, every service has image or build, depends_on
#      names services; `docker compose config` too if the plugin is installed);
#   4. checks deploy/prometheus/rules.yaml (promtool check + unit tests if installed,
#      otherwise YAML and structure).
# Run from anywhere: bash deploy/validate.sh. Exits non-zero if any check fails; a check
# whose tool is missing is reported as SKIP.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

passed=0
failed=0
skipped=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*" >&2; }
skip() { skipped=$((skipped + 1)); printf 'SKIP  %s\n' "$*"; }

# run NAME COMMAND...: runs COMMAND, shows its output indented, records PASS or FAIL.
run() {
  local name=$1
  shift
  local status=0
  "$@" >"$work/out" 2>&1 || status=$?
  sed 's/^/      /' "$work/out"
  if [ "$status" -eq 0 ]; then pass "$name"; else fail "$name (exit $status)"; fi
}

# --- tools -------------------------------------------------------------------------------
have_pyyaml=false
if python3 -c 'import yaml' >/dev/null 2>&1; then
  have_pyyaml=true
elif [ "${CI:-}" = "true" ]; then
  echo "PyYAML missing; installing it (CI=true)"
  if python3 -m pip install --quiet pyyaml && python3 -c 'import yaml' >/dev/null 2>&1; then
    have_pyyaml=true
  else
    fail "pip install pyyaml"
  fi
fi

# py MODE FILE...: the YAML checks below, in Python.
py() {
  python3 - "$@" <<'PY'
import sys

import yaml

mode, paths = sys.argv[1], sys.argv[2:]
errors = []


def err(message):
    errors.append(message)


def load_all(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def check_manifests(path, production):
    docs = load_all(path)
    if not docs:
        err(f"{path}: no documents")
        return
    by_kind = {}
    for index, doc in enumerate(docs):
        where = f"{path} document {index + 1}"
        if not isinstance(doc, dict):
            err(f"{where}: not a mapping")
            continue
        for field in ("apiVersion", "kind"):
            if not isinstance(doc.get(field), str) or not doc.get(field):
                err(f"{where}: missing {field}")
        metadata = doc.get("metadata") or {}
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name:
            err(f"{where}: missing metadata.name")
            continue
        kind = doc.get("kind")
        if kind != "Namespace" and metadata.get("namespace") != "talkapp":
            err(f"{kind}/{name}: namespace is {metadata.get('namespace')!r}, want 'talkapp'")
        by_kind.setdefault(kind, {})[name] = doc

    configmaps = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})
    deployments = by_kind.get("Deployment", {})
    if "talkapp" not in by_kind.get("Namespace", {}):
        err("Namespace/talkapp missing")
    for wanted in ("gateway", "chat-service", "media-service", "search-service", "realtime-service"):
        if wanted not in deployments:
            err(f"Deployment/{wanted} missing")
        if wanted not in by_kind.get("Service", {}):
            err(f"Service/{wanted} missing")
        if wanted not in by_kind.get("PodDisruptionBudget", {}):
            err(f"PodDisruptionBudget/{wanted} missing")

    def secret_keys(secret):
        return set((secret.get("data") or {}).keys()) | set((secret.get("stringData") or {}).keys())

    for name, deployment in deployments.items():
        what = f"Deployment/{name}"
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            err(f"{what}: selector {selector} does not match the pod labels")
        pod = template.get("spec") or {}
        pod_security = pod.get("securityContext") or {}
        if pod_security.get("runAsNonRoot") is not True:
            err(f"{what}: pod securityContext.runAsNonRoot is not true")
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        if annotations.get("prometheus.io/scrape") != "true":
            err(f"{what}: prometheus.io/scrape is not \"true\"")
        if annotations.get("prometheus.io/path") != "/metrics":
            err(f"{what}: prometheus.io/path is not /metrics")
        volumes = {volume.get("name") for volume in pod.get("volumes") or []}
        containers = pod.get("containers") or []
        if not containers:
            err(f"{what}: no containers")
        container_ports = set()
        for container in containers:
            where = f"{what} container {container.get('name')}"
            image = container.get("image") or ""
            if ":" not in image.rsplit("/", 1)[-1]:
                err(f"{where}: image {image!r} has no tag")
            if production and image.endswith(":dev"):
                err(f"{where}: production image {image!r} uses the dev tag")
            if not container.get("command"):
                err(f"{where}: no command (the image's default is the all-in-one talkapp)")
            ports = container.get("ports") or []
            named_ports = {port.get("name"): port.get("containerPort") for port in ports}
            container_ports |= {port.get("containerPort") for port in ports}
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if not (resources.get(section) or {}).get(resource):
                        err(f"{where}: resources.{section}.{resource} missing")
            security = container.get("securityContext") or {}
            if security.get("allowPrivilegeEscalation") is not False:
                err(f"{where}: allowPrivilegeEscalation is not false")
            if security.get("readOnlyRootFilesystem") is not True:
                err(f"{where}: readOnlyRootFilesystem is not true")
            for mount in container.get("volumeMounts") or []:
                if mount.get("name") not in volumes:
                    err(f"{where}: volumeMount {mount.get('name')} has no volume")
            liveness = container.get("livenessProbe")
            readiness = container.get("readinessProbe")
            if not liveness or not readiness:
                err(f"{where}: liveness and readiness probes required")
                continue
            if name == "gateway":
                if (liveness.get("httpGet") or {}).get("path") != "/healthz":
                    err(f"{where}: liveness must be GET /healthz")
                if (readiness.get("httpGet") or {}).get("path") != "/readyz":
                    err(f"{where}: readiness must be GET /readyz")
            else:
                grpc = readiness.get("grpc") or {}
                if grpc.get("port") not in container_ports:
                    err(f"{where}: readiness must be a gRPC probe on the container port")
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                http_get = (container.get(probe_name) or {}).get("httpGet") or {}
                port = http_get.get("port")
                if isinstance(port, str) and port not in named_ports:
                    err(f"{where}: {probe_name} names port {port!r}, which is not declared")
            for source in container.get("envFrom") or []:
                ref = source.get("configMapRef") or source.get("secretRef") or {}
                pool = configmaps if "configMapRef" in source else secrets
                if ref.get("name") not in pool:
                    err(f"{where}: envFrom refers to missing {ref.get('name')}")
            for variable in container.get("env") or []:
                ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    secret = secrets.get(ref.get("name"))
                    if secret is None:
                        err(f"{where}: env {variable.get('name')} refers to missing Secret {ref.get('name')}")
                    elif ref.get("key") not in secret_keys(secret):
                        err(f"{where}: Secret {ref.get('name')} has no key {ref.get('key')}")
        if annotations.get("prometheus.io/port", "").isdigit():
            if int(annotations["prometheus.io/port"]) not in container_ports:
                err(f"{what}: prometheus.io/port is not a container port")
        else:
            err(f"{what}: prometheus.io/port missing or not a number")

    for name, service in by_kind.get("Service", {}).items():
        selector = (service.get("spec") or {}).get("selector") or {}
        matches = [
            deployment_name
            for deployment_name, deployment in deployments.items()
            if selector
            and all(
                (((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}).get(k) == v
                for k, v in selector.items()
            )
        ]
        if not matches:
            err(f"Service/{name}: selector {selector} matches no Deployment")

    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("kind") != "Deployment" or target.get("name") not in deployments:
            err(f"HorizontalPodAutoscaler/{name}: target {target} does not exist")
        if "replicas" in (deployments.get(target.get("name")) or {}).get("spec", {}):
            err(f"Deployment/{target.get('name')}: sets replicas although an HPA scales it")

    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not any(
            all((deployment["spec"]["template"]["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
            for deployment in deployments.values()
        ):
            err(f"PodDisruptionBudget/{name}: selector {selector} matches no Deployment")

    counts = ", ".join(f"{len(objects)} {kind}" for kind, objects in sorted(by_kind.items()))
    print(f"{path}: {len(docs)} objects ({counts})")


def check_compose(path):
    docs = load_all(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        err(f"{path}: want one YAML mapping")
        return
    services = docs[0].get("services")
    if not isinstance(services, dict) or not services:
        err(f"{path}: no services")
        return
    for name, service in services.items():
        if not isinstance(service, dict):
            err(f"service {name}: not a mapping")
            continue
        if not service.get("image") and not service.get("build"):
            err(f"service {name}: neither image nor build")
        depends_on = service.get("depends_on") or {}
        for dependency in depends_on:
            if dependency not in services:
                err(f"service {name}: depends_on unknown service {dependency}")
    for wanted in ("postgres", "redis", "rabbitmq", "gateway", "chat-service", "media-service",
                   "search-service", "realtime-service"):
        if wanted not in services:
            err(f"service {wanted} missing")
    for infrastructure in ("postgres", "redis", "rabbitmq"):
        if not (services.get(infrastructure) or {}).get("healthcheck"):
            err(f"service {infrastructure}: no healthcheck")
    print(f"{path}: {len(services)} services ({', '.join(services)})")


def check_rules(path):
    docs = load_all(path)
    groups = docs[0].get("groups") if len(docs) == 1 and isinstance(docs[0], dict) else None
    if not isinstance(groups, list) or not groups:
        err(f"{path}: want a mapping with a non-empty `groups` list")
        return
    count = 0
    for group in groups:
        if not group.get("name"):
            err(f"{path}: a group has no name")
        for rule in group.get("rules") or []:
            count += 1
            if not (rule.get("alert") or rule.get("record")) or not rule.get("expr"):
                err(f"{path}: rule {rule.get('alert') or rule.get('record')!r} needs alert/record and expr")
    print(f"{path}: {len(groups)} groups, {count} rules")


try:
    for path in paths:
        if mode in ("manifests", "manifests-production"):
            check_manifests(path, production=mode == "manifests-production")
        elif mode == "compose":
            check_compose(path)
        elif mode == "rules":
            check_rules(path)
        elif mode == "parse":
            print(f"{path}: {len(load_all(path))} documents")
        else:
            raise SystemExit(f"unknown mode {mode}")
except (OSError, yaml.YAMLError) as error:
    err(str(error))

for message in errors:
    print(f"error: {message}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

# --- 1. render ---------------------------------------------------------------------------
rendered=()
if command -v kubectl >/dev/null 2>&1; then
  for target in deploy/base deploy/overlays/production; do
    out="$work/$(echo "$target" | tr '/' '_').yaml"
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
    run "kubectl kustomize $target" sh -c 'kubectl kustomize "$1" > "$2"' _ "$target" "$out"
    [ -s "$out" ] && rendered+=("$out")
  done
else
  skip "kubectl kustomize (kubectl not on PATH); checking the raw files only"
fi

# --- 2. manifests ------------------------------------------------------------------------
if [ "${#rendered[@]}" -gt 0 ]; then
  if command -v kubeconform >/dev/null 2>&1; then
    # KUBECONFORM_ARGS, e.g. "-schema-location /path/to/schemas/{{ .ResourceKind }}.json",
    # for machines that cannot download the schemas.
    # shellcheck disable=SC2086
    run "kubeconform" kubeconform -strict -summary -ignore-missing-schemas ${KUBECONFORM_ARGS:-} "${rendered[@]}"
  elif command -v kubernetes-validate >/dev/null 2>&1; then
    # PyPI's kubernetes-validate carries the schemas, so it works offline.
    run "kubernetes-validate --strict" kubernetes-validate --strict --quiet \
      -k "${KUBERNETES_VERSION:-1.30.0}" "${rendered[@]}"
  else
    skip "kubeconform (not on PATH): schema validation"
  fi
fi
if $have_pyyaml; then
  if [ "${#rendered[@]}" -gt 0 ]; then
    for file in "${rendered[@]}"; do
      label=$(basename "$file" .yaml | tr '_' '/')
      mode=manifests
      case "$label" in *production*) mode=manifests-production ;; esac
      run "manifest checks: $label" py "$mode" "$file"
    done
  else
    mapfile -t raw < <(find deploy/base deploy/overlays -name '*.yaml' | sort)
    run "raw manifests parse as YAML" py parse "${raw[@]}"
  fi
else
  skip "manifest checks (PyYAML missing; set CI=true to let this script pip install it)"
fi

# --- 3. docker-compose.yml ---------------------------------------------------------------
if $have_pyyaml; then
  run "docker-compose.yml" py compose docker-compose.yml
else
  skip "docker-compose.yml checks (PyYAML missing)"
fi
if docker compose version >/dev/null 2>&1; then
  run "docker compose config" env TALKAPP_AUTH__SIGNING_SECRET=validate-only-0123456789abcdef0123456789 \
    docker compose -f docker-compose.yml config --quiet
fi

# --- 4. Prometheus rules -----------------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
  run "promtool check rules" promtool check rules deploy/prometheus/rules.yaml
  run "promtool test rules" promtool test rules deploy/prometheus/rules.test.yaml
elif $have_pyyaml; then
  skip "promtool (not on PATH; Debian package: prometheus): checking YAML structure only"
  run "deploy/prometheus/rules.yaml" py rules deploy/prometheus/rules.yaml
else
  skip "rules checks (neither promtool nor PyYAML)"
fi

echo
echo "deploy/validate.sh: ${passed} checks ok, ${failed} failing, ${skipped} skipped"
[ "$failed" -eq 0 ]
