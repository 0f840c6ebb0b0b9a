"""What every contender shares: arguments in, one JSON result file out (no support_assets import,
so the dlt contender can use it from its own environment)."""

import argparse
import json
import resource
import time
from typing import Any

API_HEADERS_AGENT = "bench@support-assets.local"


def parse_args(extra: list[tuple[str, dict[str, Any]]] = ()) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True, help="sandbox root, e.g. http://127.0.0.1:P")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--db", required=True, help="DuckDB file to load into")
    parser.add_argument("--out", required=True, help="JSON result file")
    for name, kwargs in extra:
        parser.add_argument(name, **kwargs)
    return parser.parse_args()


def write_result(path: str, started: float, **fields: Any) -> None:
    """Seconds since ``started`` (the load only: interpreter start and imports excluded)."""
    fields["seconds"] = time.perf_counter() - started
    fields["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(path, "w") as fh:
        json.dump(fields, fh)
