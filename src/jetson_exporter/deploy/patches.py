"""Patches for objects the cluster already has: KubeSphere's node-exporter and the cloud Prometheus.

A patch is the body that `kubectl patch --patch-file` takes, not an object to `kubectl apply`:
its comments give the exact command, and it carries no apiVersion/kind so that applying it by
mistake fails instead of half-replacing the object.
"""

from __future__ import annotations

from typing import Any, Dict, List

from jetson_exporter.deploy import conventions
from jetson_exporter.deploy.options import Options, preset

NODE_EXPORTER_PATCH_TYPE = "strategic"
RECEIVER_PATCH_TYPE = "merge"


def node_exporter_edge_patch(options: Options) -> Dict[str, Any]:
    """Let KubeSphere's node-exporter run on edge nodes (strategic merge patch of its DaemonSet).

    `nodeSelectorTerms` has no merge key, so the list is replaced: the term excluding
    `node-role.kubernetes.io/edge` is gone and only Linux nodes are required, as before.
    """
    return {
        "spec": {
            "template": {
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {"matchExpressions": [
                                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
                                    ]}
                                ]
                            }
                        }
                    },
                    # A host-network pod needs this policy to use the cluster DNS (EdgeMesh) on an edge.
                    "dnsPolicy": "ClusterFirstWithHostNet",
                }
            }
        }
    }


def node_exporter_command(options: Options, path: str) -> str:
    namespace = preset(options.preset)["namespace"]  # where KubeSphere runs it, whatever --namespace says
    return (f"kubectl -n {namespace} patch daemonset {conventions.KUBESPHERE_NODE_EXPORTER} "
            f"--type {NODE_EXPORTER_PATCH_TYPE} --patch-file {path}")


def node_exporter_comment(options: Options, path: str) -> List[str]:
    """What the patch does, how to apply it, and the KubeEdge setup it depends on (KUBEEDGE.md)."""
    return [
        "Lets KubeSphere's node-exporter DaemonSet run on KubeEdge edge nodes: removes its required",
        "affinity term `node-role.kubernetes.io/edge DoesNotExist` and sets dnsPolicy ClusterFirstWithHostNet.",
        "",
        f"Apply (a patch, not a manifest):  {node_exporter_command(options, path)}",
        "ks-installer re-applies node-exporter on upgrade or reinstall and reverts this patch: re-apply it then.",
        "",
        "It only helps once the edge nodes meet these prerequisites (see docs/DEPLOY.md):",
        "- Cloud: cloudcore configmap `kubeedge/cloudcore` -> modules.dynamicController.enable: true",
        "  and modules.cloudStream.enable: true; then delete the cloudcore pod.",
        "- Edge: edgecore.yaml -> modules.edgeStream.enable: true (server <cloud>:10004, or :30004 behind",
        "  KubeSphere's NodePorts), modules.metaManager.metaServer.enable: true, and",
        "  modules.edged.tailoredKubeletConfig.clusterDNS: [169.254.96.16] (modules.edged.clusterDNS before 1.12);",
        "  restart edgecore. Check: curl 127.0.0.1:10550/api/v1/services returns a ServiceList.",
        "- EdgeMesh installed (service DNS and proxy on the edge); the `default/kubernetes` Service must not",
        "  carry the label service.edgemesh.kubeedge.io/service-proxy-name.",
        "- kube-rbac-proxy in the pod needs the API server, through KUBERNETES_SERVICE_HOST/PORT:",
        "  - KubeEdge <= 1.14: edged sets neither variable; upgrade, or run kube-rbac-proxy with --kubeconfig.",
        "  - KubeEdge 1.15 and 1.16 (and >= 1.17 with the gate off): add to /etc/systemd/system/edgecore.service",
        "      Environment=METASERVER_DUMMY_IP=kubernetes.default.svc.cluster.local",
        "      Environment=METASERVER_DUMMY_PORT=443",
        "    then systemctl daemon-reload && systemctl restart edgecore. The values reach every pod on the node.",
        "  - KubeEdge >= 1.17: featureGates.requireAuthorization: true in BOTH cloudcore and edgecore, plus the",
        "    chart's rbac_cloudcore_feature.yaml ClusterRole; restart both. Use this or the variables, not both.",
    ]


def receiver_patch(options: Options) -> Dict[str, Any]:
    """Switch on the cloud Prometheus's remote-write receiver (merge patch of its Prometheus object)."""
    if options.preset == "kubesphere":
        # KubeSphere 3.4.1 runs Prometheus 2.39 under operator 0.55, which has no dedicated field;
        # Prometheus 2.x accepts the feature name as an alias of --web.enable-remote-write-receiver.
        return {"spec": {"enableFeatures": ["remote-write-receiver"]}}
    return {"spec": {"enableRemoteWriteReceiver": True}}


def receiver_command(options: Options, path: str) -> str:
    name = preset(options.preset)["prometheus"]
    namespace = preset(options.preset)["namespace"]
    return f"kubectl -n {namespace} patch prometheus {name} --type {RECEIVER_PATCH_TYPE} --patch-file {path}"


def receiver_comment(options: Options, path: str) -> List[str]:
    lines = [
        "Switches on the remote-write receiver (POST /api/v1/write) of the cloud Prometheus that the",
        "push mode's agents write to; without it the endpoint answers 404.",
        "",
        f"Apply (a patch, not a manifest):  {receiver_command(options, path)}",
    ]
    if options.preset == "kubesphere":
        lines += [
            "The merge replaces spec.enableFeatures (empty in KubeSphere 3.4.1 as deployed): keep any feature you",
            "added yourself in the list. ks-installer may revert it when it re-applies monitoring.",
        ]
    else:
        lines += [
            "With kube-prometheus-stack, set the Helm value prometheus.prometheusSpec.enableRemoteWriteReceiver=true",
            "instead: a `helm upgrade` reverts this patch.",
        ]
    lines += [
        "The receiver has no authentication of its own: expose it to the edges only through a proxy or",
        "Ingress that checks the credentials the agents send (see docs/DEPLOY.md).",
    ]
    return lines
