"""Inputs that produce Snapshots: the device's own files (sysfs), a tegrastats stream, a jtop service."""
