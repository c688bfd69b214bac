"""`jetson-exporter doctor`: find, explain and fix why an edge node's metrics don't reach Prometheus.

Functional core, imperative shell: gatherers (`gather_cluster`, `gather_prometheus`, `gather_edge`)
collect facts at the edge of the program; checks (`checks_cluster`, `checks_edge`) are pure
functions from facts to findings; the fixer turns findings into changes shown as diffs first.
"""
