"""Policy over the rendered overlays: what a pod may use, run as, reach, and where its log goes.

The properties docs/kubernetes.md promises, read from each overlay as kustomize renders it
(test_manifests.kustomize_build), and checkov 3.3.30's Kubernetes checks over the same YAML.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonpatch
import pytest
import yaml
from test_manifests import DEPLOY, OVERLAYS, kustomize_build, only

ROOT = DEPLOY.parent
UVX = ROOT / ".tools" / "bin" / "uvx"  # `make setup` installs uv there
# checkov pins tabulate<0.10, the project >=0.10: it runs in its own environment, via uvx
CHECKOV = [str(UVX), "--quiet", "checkov==3.3.30"]
# The memory budget measured by benchmarks/memory.py (docs/kubernetes.md): the parent's peak
# plus each worker's at its cap of concurrent 500-row batches, bodies up to 1 MiB, the log
# written to azure://, in MiB.
PARENT_MIB = 220
WORKER_MIB = 750
HEADROOM = 1.25
REQUESTS_PER_WORKER = 128  # the concurrency the budget was measured at; more get 429
MIN_UID = 10_000
LOG_FLUSH_SECONDS = 30  # InferenceLogWriter.close: the wait for the final flush
REQUEST_TIMEOUT_SECONDS = 30  # the service's traffic timeout: the longest request to drain
INGRESS_NAMESPACE = "app-routing-system"
MONITORING_NAMESPACE = "monitoring"
DIGEST = re.compile(r"^[a-z0-9.-]+\.azurecr\.io/[a-z0-9-]+@sha256:[0-9a-f]{64}$")
UUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}


def pod_spec(objects: list[dict]) -> dict:
    return only(objects, "Deployment")["spec"]["template"]["spec"]


def container(objects: list[dict]) -> dict:
    containers = pod_spec(objects)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(objects: list[dict]) -> dict[str, dict]:
    return {variable["name"]: variable for variable in container(objects)["env"]}


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([KMG]i)?", quantity).groups()
    return int(number) * QUANTITY[unit or ""] / 2**20


def workers_from_downward_api(objects: list[dict]) -> int:
    """What the kubelet puts in UNDERWRITE_WORKERS: the CPU limit over the divisor, rounded up."""
    reference = env_of(objects)["UNDERWRITE_WORKERS"]["valueFrom"]["resourceFieldRef"]
    assert reference["resource"] == "limits.cpu"
    assert reference["containerName"] == container(objects)["name"]
    limit = container(objects)["resources"]["limits"]["cpu"]
    return math.ceil(cpus(limit) / cpus(reference.get("divisor", "1")))


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, kustomize_build(DEPLOY / "overlays" / request.param)


def test_cpu_and_memory_have_requests_equal_to_limits(rendered) -> None:
    resources = container(rendered[1])["resources"]
    assert set(resources["limits"]) == {"cpu", "memory"}
    assert resources["requests"] == resources["limits"]  # Guaranteed QoS: evicted last
    assert cpus(resources["limits"]["cpu"]).is_integer(), "whole CPUs: they set the workers"


def test_workers_are_the_cpu_limit_never_the_nodes_cpus(rendered) -> None:
    env, objects = rendered
    assert workers_from_downward_api(objects) == {"staging": 1, "production": 2}[env]
    assert "value" not in env_of(objects)["UNDERWRITE_WORKERS"]


def test_memory_limit_holds_the_measured_budget_for_its_workers(rendered) -> None:
    objects = rendered[1]
    workers = workers_from_downward_api(objects)
    budget = HEADROOM * (PARENT_MIB + WORKER_MIB * workers)
    limit = mebibytes(container(objects)["resources"]["limits"]["memory"])
    assert limit >= budget, f"{workers} workers need {budget:.0f} MiB, the limit is {limit:.0f}"


def test_each_worker_admits_the_requests_the_budget_was_measured_for(rendered) -> None:
    objects = rendered[1]
    overrides = json.loads(env_of(objects)["BENTOML_CONFIG_OVERRIDES"]["value"])
    cap = overrides["services"]["loan_approval"]["traffic"]["max_concurrency"]
    assert cap == REQUESTS_PER_WORKER * workers_from_downward_api(objects)


EFFECTIVE_CONFIG = """
import importlib, json, yaml
from bentoml._internal.configuration.containers import BentoMLContainer
module, name = yaml.safe_load(open("bentofile.yaml"))["service"].split(":")
service = getattr(importlib.import_module(module), name)
service.inject_config()  # what `bentoml serve` does first
print(json.dumps(BentoMLContainer.config.services[service.name].get()))
"""


@pytest.mark.integration
def test_bentoml_starts_the_workers_and_cap_the_pod_gives_it(rendered, model_tag: str) -> None:
    """The container's environment, Downward API resolved, read by the real service."""
    objects = rendered[1]
    workers = workers_from_downward_api(objects)
    given = {k: v["value"] for k, v in env_of(objects).items() if "value" in v}
    given.pop("BENTOML_HOME")  # the test's private store holds the model
    environment = {**os.environ, **given, "UNDERWRITE_WORKERS": str(workers)}
    done = subprocess.run(
        [sys.executable, "-c", EFFECTIVE_CONFIG],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads(done.stdout.strip().splitlines()[-1])
    assert config["workers"] == workers
    assert config["traffic"]["max_concurrency"] == REQUESTS_PER_WORKER * workers
    assert config["traffic"]["timeout"] == REQUEST_TIMEOUT_SECONDS  # merged, not replaced


def test_autoscaler_and_disruption_budget_are_kept(rendered) -> None:
    env, objects = rendered
    assert only(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    autoscalers = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert len(autoscalers) == (1 if env == "production" else 0)


def test_pod_runs_as_a_high_uid_without_privileges(rendered) -> None:
    pod, box = pod_spec(rendered[1]), container(rendered[1])["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= MIN_UID
    assert pod["securityContext"]["runAsGroup"] >= MIN_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert box["allowPrivilegeEscalation"] is False
    assert box["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in box["capabilities"]


def test_root_filesystem_is_read_only_and_every_written_path_is_an_empty_dir(rendered) -> None:
    objects = rendered[1]
    box, env = container(objects), env_of(objects)
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    mounted = {m["mountPath"]: volumes[m["name"]] for m in box["volumeMounts"]}
    written = {"/tmp", env["BENTOML_HOME"]["value"], env["UNDERWRITE_LOG_SPILL"]["value"]}
    assert written <= set(mounted)
    for path in written:
        assert "sizeLimit" in mounted[path]["emptyDir"], f"{path}: a bounded emptyDir"
        assert mounted[path]["emptyDir"].get("medium") != "Memory", f"{path} would count as RAM"


def test_image_is_pinned_by_digest(rendered) -> None:
    box = container(rendered[1])
    assert DIGEST.match(box["image"]), box["image"]


def test_telemetry_is_off(rendered) -> None:
    assert env_of(rendered[1])["BENTOML_DO_NOT_TRACK"]["value"] == "true"


def test_inference_log_goes_to_azure_with_the_pods_workload_identity(rendered) -> None:
    env, objects = rendered
    variables = env_of(objects)
    location = variables["UNDERWRITE_INFERENCE_LOG"]["value"]
    assert location == f"azure://inference-log/{'prod' if env == 'production' else env}"
    assert variables["AZURE_STORAGE_ACCOUNT"]["value"]
    assert variables["AZURE_STORAGE_ANON"]["value"] == "false"
    assert not {"AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING"} & set(variables)
    template = only(objects, "Deployment")["spec"]["template"]
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    account = named(objects, "ServiceAccount", template["spec"]["serviceAccountName"])
    assert UUID.match(account["metadata"]["annotations"]["azure.workload.identity/client-id"])


def test_overlays_log_and_authenticate_as_different_identities() -> None:
    rendered = {env: kustomize_build(DEPLOY / "overlays" / env) for env in OVERLAYS}
    logs = {env_of(o)["UNDERWRITE_INFERENCE_LOG"]["value"] for o in rendered.values()}
    identities = {
        named(o, "ServiceAccount", "underwrite")["metadata"]["annotations"][
            "azure.workload.identity/client-id"
        ]
        for o in rendered.values()
    }
    assert len(logs) == len(identities) == len(OVERLAYS)


def test_grace_period_covers_pre_stop_draining_and_the_final_log_flush(rendered) -> None:
    objects = rendered[1]
    pre_stop = container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + REQUEST_TIMEOUT_SECONDS + LOG_FLUSH_SECONDS
    assert pod_spec(objects)["terminationGracePeriodSeconds"] >= needed


def test_network_policy_admits_only_the_ingress_and_monitoring_namespaces(rendered) -> None:
    objects = rendered[1]
    policy = only(objects, "NetworkPolicy")
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == (only(objects, "Deployment")["spec"]["selector"]["matchLabels"])
    )
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    sources = set()
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}
            sources.add(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    assert sources == {INGRESS_NAMESPACE, MONITORING_NAMESPACE}


def test_network_policy_lets_out_only_dns_and_https(rendered) -> None:
    policy = only(rendered[1], "NetworkPolicy")
    ports = {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (443, "TCP")}
    https = next(r for r in policy["spec"]["egress"] if r["ports"][0]["port"] == 443)
    assert "10.0.0.0/8" in https["to"][0]["ipBlock"]["except"]  # not the cluster's own network


# checkov: once over every overlay, plus a copy with the hardening undone, which must fail


UNJUSTIFIED = "No comment provided"  # what checkov reports for a skip without a reason
BROKEN = [
    {"op": "remove", "path": "/spec/template/spec/containers/0/securityContext"},
    {"op": "remove", "path": "/spec/template/spec/containers/0/resources/limits/cpu"},
    {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:latest"},
]


@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """checkov's failed checks and counts per rendered file, by file stem."""
    folder = tmp_path_factory.mktemp("rendered")
    for env in OVERLAYS:
        objects = kustomize_build(DEPLOY / "overlays" / env)
        (folder / f"{env}.yaml").write_text(yaml.safe_dump_all(objects))
        if env == "staging":
            broken = [
                jsonpatch.apply_patch(o, BROKEN) if o["kind"] == "Deployment" else o
                for o in objects
            ]
            (folder / "broken.yaml").write_text(yaml.safe_dump_all(broken))
    return run_checkov(folder)


def run_checkov(folder: Path) -> dict[str, dict]:
    options = ["--framework", "kubernetes", "--skip-download", "-o", "json"]
    done = subprocess.run(
        [*CHECKOV, *options, "-d", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout.strip(), f"checkov printed nothing (exit {done.returncode}):\n{done.stderr}"
    report = json.loads(done.stdout)
    results = {
        path.stem: {"failed": set(), "checked": set(), "skipped": {}}
        for path in folder.glob("*.yaml")
    }
    for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
        for check in report["results"][outcome]:
            found = results[Path(check["file_path"]).stem]
            found["checked"].add(check["resource"])
            if outcome == "failed_checks":
                found["failed"].add(check["check_id"])
            elif outcome == "skipped_checks":
                found["skipped"][check["check_id"]] = check.get("suppress_comment", "")
    return {"_summary": report["summary"], **results}


def test_checkov_passes_every_overlay(checkov) -> None:
    assert checkov["_summary"]["parsing_errors"] == 0
    for env in OVERLAYS:
        deployment = only(kustomize_build(DEPLOY / "overlays" / env), "Deployment")
        assert (
            f"Deployment.{deployment['metadata']['namespace']}.underwrite"
            in (checkov[env]["checked"])
        )
        assert checkov[env]["failed"] == set(), f"{env}: {sorted(checkov[env]['failed'])}"
        for check, reason in checkov[env]["skipped"].items():  # `# checkov:skip=ID: reason`
            assert reason and reason != UNJUSTIFIED, f"{env}: {check} skipped without a reason"


def test_checkov_fails_an_overlay_with_its_hardening_removed(checkov) -> None:
    # read-only root fs, privilege escalation, capabilities, CPU limit, digest, latest tag
    expected = {"CKV_K8S_22", "CKV_K8S_20", "CKV_K8S_37", "CKV_K8S_11", "CKV_K8S_43", "CKV_K8S_14"}
    assert expected <= checkov["broken"]["failed"]


def test_deployment_is_authenticated_beyond_localhost(rendered) -> None:
    env = env_of(rendered[1])
    assert env["UNDERWRITE_ENVIRONMENT"]["value"] != "local"
    assert env["UNDERWRITE_AUTH_TENANT_ID"]["value"] and env["UNDERWRITE_AUTH_AUDIENCE"]["value"]
    assert "UNDERWRITE_AUTH" not in env, "authentication must not be switched off in a pod"


def named(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def test_log_retention_runs_daily_as_its_own_identity_on_the_environments_log(rendered) -> None:
    objects = rendered[1]
    job = only(objects, "CronJob")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert command[-4:] == ["log", "purge", "--older-than", "90"]
    assert pod["serviceAccountName"] != pod_spec(objects)["serviceAccountName"]
    named(objects, "ServiceAccount", pod["serviceAccountName"])
    variables = {v["name"]: v for v in pod["containers"][0]["env"]}
    served = env_of(objects)["UNDERWRITE_INFERENCE_LOG"]["value"]
    assert variables["UNDERWRITE_INFERENCE_LOG"]["value"] == served
