"""Gather cluster facts through the official Kubernetes Python client (read-only), and apply patches.

Objects are kept in the API's own JSON form (read with `_preload_content=False`), so that checks,
recorded facts and test fixtures all look like `kubectl get -o json`. A read that is forbidden or
fails is recorded with its reason and the rest goes on; no access at all is a ClusterAccessError.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from jetson_exporter.deploy.conventions import NAME, PRESETS, SELECTOR_LABELS
from jetson_exporter.doctor import advice
from jetson_exporter.doctor.facts import ClusterFacts, Obj, log_key
from jetson_exporter.doctor.fixer import Change
from jetson_exporter.doctor.kube import as_dict, as_list, container_statuses, dig, is_edge, name_of, namespace_of
from jetson_exporter.doctor.yamlparse import parse_yaml

NODE_EXPORTER_SELECTOR = "app.kubernetes.io/name in (node-exporter,prometheus-node-exporter)"
EDGEMESH_SELECTOR = "kubeedge=edgemesh-agent"
CLOUDCORE_SELECTOR = "kubeedge=cloudcore"
LOG_LINES = 30
_CRDS = {
    "ServiceMonitor": ("monitoring.coreos.com", "v1", "servicemonitors"),
    "PrometheusRule": ("monitoring.coreos.com", "v1", "prometheusrules"),
    "Prometheus": ("monitoring.coreos.com", "v1", "prometheuses"),
}


class ClusterAccessError(Exception):
    """The doctor cannot talk to the cluster at all. One line, exit code 2."""


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def api_error(exc: BaseException) -> str:
    """A one-line reason from an ApiException (its Status message) or a connection error."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    if status is not None:
        message = ""
        if body:
            try:
                message = str(json.loads(body).get("message", ""))
            except (ValueError, AttributeError):
                message = str(body)
        reason = getattr(exc, "reason", "") or ""
        return _one_line(f"HTTP {status} {reason}: {message}" if message else f"HTTP {status} {reason}")
    return _one_line(str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__)


def connect(kubeconfig: Optional[str], context: Optional[str]) -> Any:
    """An ApiClient from --kubeconfig, $KUBECONFIG or ~/.kube/config, else in-cluster config."""
    try:
        from kubernetes import client
        from kubernetes import config as kube_config
    except ImportError:
        raise ClusterAccessError("cluster mode needs the kubernetes package: pip install 'jetson-exporter[ops]'") \
            from None
    config: Any = kube_config  # typed loosely: the client's typing differs between releases
    default = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
    path = kubeconfig or (default if os.path.exists(default) else None)
    if path:
        if not os.path.exists(path):
            raise ClusterAccessError(f"kubeconfig {path} does not exist: pass --kubeconfig FILE")
        try:
            return config.new_client_from_config(config_file=path, context=context)
        except Exception as exc:  # ConfigException, YAML errors, missing files referenced by it
            raise ClusterAccessError(f"cannot use kubeconfig {path}: {_one_line(str(exc))}") from None
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        cfg = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=cfg)
        except Exception as exc:
            raise ClusterAccessError(f"in-cluster config unusable: {_one_line(str(exc))}") from None
        return client.ApiClient(cfg)
    raise ClusterAccessError("no cluster access: pass --kubeconfig FILE (or set KUBECONFIG), run inside the "
                             "cluster, use --edge on an edge node, or replay recorded facts with --facts FILE")


class _Api:
    def __init__(self, api_client: Any, timeout_s: float) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.apireg = client.ApiregistrationV1Api(api_client)
        self.timeout = timeout_s

    def json(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        resp = method(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
        return json.loads(resp.data)

    def text(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        resp = method(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
        return bytes(resp.data).decode("utf-8", "replace")


def _slim(obj: Any) -> Any:
    """Drop what only makes recorded facts big: managedFields, last-applied annotations."""
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        meta = dict(obj["metadata"])
        meta.pop("managedFields", None)
        annotations = {k: v for k, v in as_dict(meta.get("annotations")).items()
                       if k != "kubectl.kubernetes.io/last-applied-configuration"}
        if "annotations" in meta:
            meta["annotations"] = annotations
        obj = dict(obj, metadata=meta)
    return obj


class ClusterGatherer:
    def __init__(self, api_client: Any, preset: str, namespace: Optional[str], timeout_s: float = 10.0) -> None:
        self.api = _Api(api_client, timeout_s)
        self.preset = preset
        self.namespace = namespace or str(PRESETS.get(preset, PRESETS["kubesphere"])["namespace"])
        self.facts = ClusterFacts(preset=preset, namespace=self.namespace)

    def _get(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Optional[Obj]:
        from kubernetes.client.exceptions import ApiException

        try:
            return _slim(self.api.json(method, *args, **kwargs))  # type: ignore[no-any-return]
        except ApiException as exc:
            if exc.status == 404:
                return None
            self.facts.errors[name] = api_error(exc)
        except Exception as exc:  # connection errors, timeouts, bad JSON: recorded, never fatal
            self.facts.errors[name] = api_error(exc)
        return None

    def _list(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Optional[List[Obj]]:
        data = self._get(name, method, *args, **kwargs)
        if data is None:
            return None if name in self.facts.errors else []
        return [_slim(item) for item in as_list(data.get("items")) if isinstance(item, dict)]

    def check_access(self) -> None:
        """The first read: no answer or no credentials at all means the doctor cannot run."""
        from kubernetes.client.exceptions import ApiException

        try:
            data = self.api.json(self.api.core.list_node)
        except ApiException as exc:
            if exc.status == 401:
                raise ClusterAccessError(f"the API server rejects the credentials ({api_error(exc)}): "
                                         "check --kubeconfig/--context") from None
            self.facts.errors["nodes"] = api_error(exc)
            return
        except Exception as exc:
            raise ClusterAccessError(f"cannot reach the Kubernetes API: {api_error(exc)}: check --kubeconfig/"
                                     "--context, or replay recorded facts with --facts FILE") from None
        self.facts.nodes = [_slim(n) for n in as_list(data.get("items")) if isinstance(n, dict)]

    def gather(self) -> ClusterFacts:
        self.check_access()
        api, f, ns = self.api, self.facts, self.namespace
        f.namespace_object = self._get("namespace_object", api.core.read_namespace, ns)
        self._node_exporter()
        f.cloudcore_configmap = self._get("cloudcore_configmap", api.core.read_namespaced_config_map,
                                          advice.CLOUDCORE_CONFIGMAP, advice.CLOUDCORE_NAMESPACE)
        self._cloudcore_gate_facts()
        f.edgemesh_pods = self._list("edgemesh_pods", api.core.list_pod_for_all_namespaces,
                                     label_selector=EDGEMESH_SELECTOR)
        f.kubernetes_service = self._get("kubernetes_service", api.core.read_namespaced_service,
                                         "kubernetes", "default")
        f.jetson_daemonset = self._get("jetson_daemonset", api.apps.read_namespaced_daemon_set, NAME, ns)
        selector = ",".join(f"{k}={v}" for k, v in SELECTOR_LABELS.items())
        f.jetson_pods = self._list("jetson_pods", api.core.list_namespaced_pod, ns, label_selector=selector)
        f.jetson_service = self._get("jetson_service", api.core.read_namespaced_service, NAME, ns)
        for attr, kind in (("jetson_servicemonitor", "ServiceMonitor"), ("jetson_prometheusrule", "PrometheusRule")):
            group, version, plural = _CRDS[kind]
            setattr(f, attr, self._get(attr, api.custom.get_namespaced_custom_object, group, version, ns, plural,
                                       NAME))
        group, version, plural = _CRDS["Prometheus"]
        f.prometheuses = self._list("prometheuses", api.custom.list_cluster_custom_object, group, version, plural)
        if self.preset == "kubesphere":
            f.cluster_configuration = self._get(
                "cluster_configuration", api.custom.get_namespaced_custom_object, "installer.kubesphere.io",
                "v1alpha1", "kubesphere-system", "clusterconfigurations", "ks-installer")
        f.metrics_apiservice = self._get("metrics_apiservice", api.apireg.read_api_service, "v1beta1.metrics.k8s.io")
        self._logs(f.node_exporter_pods or [])
        self._logs(f.jetson_pods or [])
        return f

    def _node_exporter(self) -> None:
        api, f = self.api, self.facts
        found = self._list("node_exporter_daemonset", api.apps.list_namespaced_daemon_set, self.namespace,
                           label_selector=NODE_EXPORTER_SELECTOR)
        if found:
            f.node_exporter_daemonset = found[0]
        if "node_exporter_daemonset" in f.errors:
            f.errors.setdefault("node_exporter_pods", f.errors["node_exporter_daemonset"])
            return
        if f.node_exporter_daemonset is None:
            return
        labels = as_dict(dig(f.node_exporter_daemonset, "spec", "selector", "matchLabels"))
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        f.node_exporter_pods = self._list("node_exporter_pods", api.core.list_namespaced_pod,
                                          namespace_of(f.node_exporter_daemonset), label_selector=selector)

    def _cloudcore_gate_facts(self) -> None:
        api, f = self.api, self.facts
        text = dig(f.cloudcore_configmap, "data", advice.CLOUDCORE_KEY)
        parsed, _ = parse_yaml(text, "cloudcore.yaml") if isinstance(text, str) else (None, None)
        if dig(parsed, "featureGates", "requireAuthorization") is not True:
            return
        f.cloudcore_feature_role = self._get("cloudcore_feature_role", api.rbac.read_cluster_role,
                                             advice.CLOUDCORE_FEATURE_ROLE)
        pods = self._list("cloudcore_logs", api.core.list_namespaced_pod, advice.CLOUDCORE_NAMESPACE,
                          label_selector=CLOUDCORE_SELECTOR) or []
        if pods:
            text = self._log(pods[0], "cloudcore", previous=False, lines=300, error_key="cloudcore_logs")
            if text is not None:
                f.cloudcore_logs = "\n".join(line for line in text.splitlines()
                                             if "cannot list resource" in line or "forbidden" in line)

    def _log(self, pod: Obj, container: str, previous: bool, lines: int, error_key: str) -> Optional[str]:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.text(self.api.core.read_namespaced_pod_log, name_of(pod), namespace_of(pod),
                                 container=container, previous=previous, tail_lines=lines)
        except ApiException as exc:
            if exc.status in (400, 404):  # no previous container, container not started
                return None
            self.facts.errors.setdefault(error_key, api_error(exc))
        except Exception as exc:
            self.facts.errors.setdefault(error_key, api_error(exc))
        return None

    def _logs(self, pods: Sequence[Obj]) -> None:
        """Last lines of the containers that matter on edge nodes: kube-rbac-proxy always, others if unwell."""
        edge = {name_of(n) for n in self.facts.nodes or [] if is_edge(n)}
        for pod in pods:
            if dig(pod, "spec", "nodeName") not in edge:
                continue
            for cname, status in container_statuses(pod).items():
                unwell = status.get("ready") is not True or status.get("restartCount", 0)
                if cname != "kube-rbac-proxy" and not unwell:
                    continue
                for previous in ((True, False) if status.get("restartCount", 0) else (False,)):
                    text = self._log(pod, cname, previous, LOG_LINES, "pod_logs")
                    if text:
                        self.facts.pod_logs[log_key(namespace_of(pod), name_of(pod), cname, previous)] = text


JSON_PATCH = "application/json-patch+json"


def _send_patch(api: _Api, api_client: Any, kind: str, namespace: str, name: str, body: List[Dict[str, Any]]) -> None:
    """One JSON patch through the typed client; releases before 36 take no `_content_type`."""
    if kind in _CRDS:
        group, version, plural = _CRDS[kind]
        try:
            api.json(api.custom.patch_namespaced_custom_object, group, version, namespace, plural, name, body,
                     _content_type=JSON_PATCH)
        except TypeError:
            # Older clients send custom-object patches as merge patches; say JSON patch explicitly.
            api_client.call_api(f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}", "PATCH",
                                header_params={"Content-Type": JSON_PATCH, "Accept": "application/json"},
                                body=body, auth_settings=["BearerToken"], _preload_content=False,
                                _request_timeout=api.timeout)
        return
    methods: Dict[str, Callable[..., Any]] = {
        "DaemonSet": api.apps.patch_namespaced_daemon_set,
        "Service": api.core.patch_namespaced_service,
        "ConfigMap": api.core.patch_namespaced_config_map,
    }
    args: Tuple[Any, ...] = (name, body) if kind == "Node" else (name, namespace, body)
    method = api.core.patch_node if kind == "Node" else methods[kind]
    try:
        api.json(method, *args, _content_type=JSON_PATCH)
    except TypeError:
        api.json(method, *args)  # older clients pick JSON patch for a list body themselves


def apply_patches(api_client: Any, changes: Sequence[Change], timeout_s: float = 10.0) -> List[str]:
    """Send each planned JSON patch; one line per change saying what happened."""
    api = _Api(api_client, timeout_s)
    messages = []
    for change in changes:
        patch = change.patch
        if change.error or patch is None:
            continue
        if patch.kind not in _CRDS and patch.kind not in ("DaemonSet", "Service", "ConfigMap", "Node"):
            messages.append(f"skipped {patch.target}: no patch method for {patch.kind}")
            continue
        try:
            _send_patch(api, api_client, patch.kind, patch.namespace, patch.name, [dict(op) for op in patch.ops])
        except Exception as exc:  # ApiException, connection errors: reported, the other patches go on
            messages.append(f"failed {patch.target}: {api_error(exc)}")
            continue
        messages.append(f"patched {patch.target}")
    return messages
