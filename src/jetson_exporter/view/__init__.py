"""Views: the live page on every exporter, the terminal fleet view, dashboards."""
