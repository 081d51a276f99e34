"""Re-measure randsmooth.pipeline.memory.FOOTPRINTS on the meta device (no GPU needed).

    python benchmarks/memory_probe.py            # prints the table's entries, measured now

Paste the printed lines into FOOTPRINTS when an architecture changes (tests/test_memory.py fails
until then). A GPU's own peak (torch.cuda.max_memory_allocated) is measured by
benchmarks/gpu_check.sh where a GPU is available.
"""

from __future__ import annotations

import json

from randsmooth.models.footprint import measure
from randsmooth.pipeline.memory import FOOTPRINTS


def main() -> None:
    for key in FOOTPRINTS:
        found = measure(key[0], key[2:5], key[5], json.loads(key[1]))
        value = (found["params"], found["train_bytes"], found["eval_bytes"])
        mark = "" if value == FOOTPRINTS[key] else "  # changed"
        print(f"    {key!r}: {value!r},{mark}")


if __name__ == "__main__":
    main()
