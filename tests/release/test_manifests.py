"""The Kubernetes manifests in deploy/: each overlay renders and validates against the schemas.

No cluster runs here and kustomize is not a Python dependency, so the overlays are rendered
by the small kustomize subset below, which refuses any kustomization field it does not
implement (its output equals `kubectl kustomize deploy/overlays/<env>`, kustomize v5.5.0,
object for object), and each rendered object is checked with kubernetes-validate (the
Kubernetes OpenAPI schemas as JSON Schema, strict: unknown fields are errors).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jsonpatch
import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OVERLAYS = ("staging", "production")
KUBERNETES_VERSIONS = ("1.31.0", "1.33.0")  # what AKS supports
SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas"}
SUPPORTED |= {"patches"}
SELECTORS = {
    "Deployment": [("spec", "selector", "matchLabels"), ("spec", "template", "metadata", "labels")],
    "Service": [("spec", "selector")],
    "PodDisruptionBudget": [("spec", "selector", "matchLabels")],
    "NetworkPolicy": [("spec", "podSelector", "matchLabels")],
}
# kustomize also labels these selectors; the renderer refuses them rather than guess
PEER_SELECTORS = {"ingress": "from", "egress": "to"}


def kustomize_build(directory: Path) -> list[dict]:
    """Render a kustomization: resources, then patches, labels, images, replicas, namespace."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise NotImplementedError(f"{directory}: kustomization fields {sorted(unknown)}")
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += kustomize_build(path) if path.is_dir() else load_all(path)
    for patch in kustomization.get("patches", []):
        apply_patch(objects, patch)
    for label in kustomization.get("labels", []):
        add_labels(objects, label["pairs"], label.get("includeSelectors", False))
    for image in kustomization.get("images", []):
        set_image(objects, image)
    for replicas in kustomization.get("replicas", []):
        for obj in named(objects, "Deployment", replicas["name"]):
            obj["spec"]["replicas"] = replicas["count"]
    if "namespace" in kustomization:
        for obj in objects:
            obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def named(objects: list[dict], kind: str, name: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]


def apply_patch(objects: list[dict], patch: dict) -> None:
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise NotImplementedError("only JSON 6902 patches (a list of operations)")
    targets = named(objects, patch["target"]["kind"], patch["target"]["name"])
    assert targets, f"patch target {patch['target']} matches nothing"
    for obj in targets:
        jsonpatch.apply_patch(obj, operations, in_place=True)


def add_labels(objects: list[dict], pairs: dict, include_selectors: bool) -> None:
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(pairs)
        if not include_selectors:
            continue
        if obj["kind"] not in SELECTORS and "selector" in obj.get("spec", {}):
            raise NotImplementedError(f"selector labels for {obj['kind']}")
        refuse_peer_pod_selectors(obj)
        for path in SELECTORS.get(obj["kind"], []):
            node = obj
            for key in path:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
            node.update(pairs)
        label_spread_constraints(obj, pairs)


def label_spread_constraints(obj: dict, pairs: dict) -> None:
    """kustomize labels an existing topologySpreadConstraints labelSelector as well."""
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    for constraint in pod.get("topologySpreadConstraints", []):
        if "matchLabels" in constraint.get("labelSelector", {}):
            constraint["labelSelector"]["matchLabels"].update(pairs)


def refuse_peer_pod_selectors(obj: dict) -> None:
    if obj["kind"] != "NetworkPolicy":
        return
    for direction, peers in PEER_SELECTORS.items():
        for rule in obj["spec"].get(direction, []):
            if any("podSelector" in peer for peer in rule.get(peers, [])):
                raise NotImplementedError(f"NetworkPolicy {direction} peers with a podSelector")


def set_image(objects: list[dict], image: dict) -> None:
    """kustomize's `images:`: a digest wins over a tag; without either the old one stays."""
    for obj in objects:
        spec = obj.get("spec", {})
        spec = spec.get("jobTemplate", {}).get("spec", spec)  # a CronJob's pod is one deeper
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, suffix = split_image(container["image"])
            if name != image["name"]:
                continue
            if "digest" in image:
                suffix = f"@{image['digest']}"
            elif "newTag" in image:
                suffix = f":{image['newTag']}"
            container["image"] = image.get("newName", name) + suffix


def split_image(reference: str) -> tuple[str, str]:
    """`name:tag` or `name@digest` -> (name, ':tag' or '@digest' or '')."""
    if "@" in reference:
        name, digest = reference.split("@", 1)
        return name, f"@{digest}"
    head, _, last = reference.rpartition("/")
    if ":" in last:
        repo, tag = last.split(":", 1)
        return f"{head}/{repo}" if head else repo, f":{tag}"
    return reference, ""


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, kustomize_build(DEPLOY / "overlays" / request.param)


def only(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlay_validates_against_the_kubernetes_schemas(overlay, version: str) -> None:
    _, objects = overlay
    kinds = {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"}
    assert {o["kind"] for o in objects} >= kinds
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    ("mistake", "operation"),
    [
        ("misspelt field", {"op": "add", "path": "/spec/template/spec/readinesProbe", "value": {}}),
        ("wrong type", {"op": "replace", "path": "/spec/replicas", "value": "two"}),
        ("no container name", {"op": "remove", "path": "/spec/template/spec/containers/0/name"}),
        ("no selector", {"op": "remove", "path": "/spec/selector"}),
    ],
)
def test_schema_check_catches_a_broken_deployment(overlay, mistake: str, operation: dict) -> None:
    broken = jsonpatch.apply_patch(only(overlay[1], "Deployment"), [operation])
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_probes_ask_readyz_and_livez_on_the_bentoml_port(overlay) -> None:
    container = only(overlay[1], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 3000}]


def test_service_pdb_policy_and_autoscaler_select_the_deployments_pods(overlay) -> None:
    env, objects = overlay
    deployment = only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert (
        selector["app.kubernetes.io/instance"]
        == f"underwrite-{'prod' if env == 'production' else env}"
    )
    assert only(objects, "Service")["spec"]["selector"] == selector
    assert only(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    assert only(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] == selector
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_overlays_differ_in_namespace_and_replicas_and_pin_the_placeholder_digest() -> None:
    rendered = {env: kustomize_build(DEPLOY / "overlays" / env) for env in OVERLAYS}
    deployments = {env: only(objects, "Deployment") for env, objects in rendered.items()}
    namespaces = {env: {o["metadata"]["namespace"] for o in rendered[env]} for env in OVERLAYS}
    assert namespaces == {"staging": {"underwrite-staging"}, "production": {"underwrite-prod"}}
    images = {
        env: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for env, d in deployments.items()
    }
    assert images == {  # the placeholder digest the release workflow replaces
        env: f"underwrite.azurecr.io/loan-approval@sha256:{'0' * 64}" for env in OVERLAYS
    }
    assert deployments["staging"]["spec"]["replicas"] == 1
    assert deployments["production"]["spec"]["replicas"] == 2
    assert only(rendered["production"], "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2


def test_renderer_refuses_kustomization_fields_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: blue-\n")
    with pytest.raises(NotImplementedError, match="namePrefix"):
        kustomize_build(tmp_path)


def test_renderer_refuses_network_policy_peers_selected_by_pod_labels(tmp_path: Path) -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p"},
        "spec": {"podSelector": {"matchLabels": {}}, "ingress": [{"from": [{"podSelector": {}}]}]},
    }
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [policy.yaml]\nlabels: [{pairs: {a: b}, includeSelectors: true}]\n"
    )
    with pytest.raises(NotImplementedError, match="podSelector"):
        kustomize_build(tmp_path)


def test_release_digest_replaces_the_placeholder(tmp_path: Path) -> None:
    """What `kustomize edit set image underwrite=<acr>/loan-approval@sha256:<d>` writes."""
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    overlay = tmp_path / "deploy" / "overlays" / "staging"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    released = f"sha256:{'ab' * 32}"
    kustomization["images"] = [
        {"name": "underwrite", "newName": "acme.azurecr.io/loan-approval", "digest": released}
    ]
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    pod = only(kustomize_build(overlay), "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"acme.azurecr.io/loan-approval@{released}"
