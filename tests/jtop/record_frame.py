"""Record one frame from a running jtop service as a test fixture (not a test).

Run with a venv that has jetson-stats and the exporter installed, against the harness:

    VENV=.venv-jtop ../shared/jtop-harness/start_fake_jtop.sh
    .venv-jtop/bin/python tests/jtop/record_frame.py tests/fixtures/jtop/jetson-stats-4.3.2-agx-orin.json

The frame is what `JtopCollector` maps: the client's structured properties as plain data.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

from jetson_exporter.sources.jtop import frame_from_client
from jtop import jtop


def main(out: str, profile: str) -> int:
    client = jtop(interval=0.5)
    client.start()
    try:
        for _ in range(3):  # past the first frame, whose CPU loads are since-boot averages
            if not client.ok():
                print("the jtop service sent no data", file=sys.stderr)
                return 1
        frame, errors = frame_from_client(client)
    finally:
        client.close()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    frame["_recorded"] = {"jetson-stats": version("jetson-stats"), "harness profile": profile}
    with open(out, "w") as f:
        json.dump(frame, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "agx-orin"))
