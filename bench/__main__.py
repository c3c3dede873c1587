"""``make bench``: the performance figures of the platform (see bench/README.md as it grows).

Today: validation throughput on one core, ours against the factur-x library's route.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import validation


def main() -> int:
    results = {"validation": validation.run()}
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=1, sort_keys=True))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
