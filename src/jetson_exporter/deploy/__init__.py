"""Rendering of Kubernetes/KubeSphere manifests, alert rules and dashboards."""
