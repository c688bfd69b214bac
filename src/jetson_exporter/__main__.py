"""`python -m jetson_exporter` is the same as the `jetson-exporter` command."""

import sys

from jetson_exporter.cli import main

sys.exit(main())
