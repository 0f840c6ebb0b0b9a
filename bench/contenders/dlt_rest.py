"""Baseline: dlt's ``rest_api`` source into DuckDB (run with bench/.venv-dlt's Python).

Octadesk reports the page count in headers (``X-Next-Page``), which dlt's page-number paginator
cannot read (it looks in the body), so this uses its header-cursor paginator on ``X-Next-Page``.
Everything else is dlt's default; ``--format jsonl`` is its fastest load path.
"""

import os
import time

from common import API_HEADERS_AGENT, parse_args, write_result


def main() -> None:
    args = parse_args(
        [("--format", {"default": "default"}), ("--pipelines-dir", {"required": True})]
    )
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    started = time.perf_counter()
    source = rest_api_source(
        {
            "client": {
                "base_url": f"{args.base_url}/octadesk/",
                "headers": {"X-API-KEY": args.api_key, "octa-agent-email": API_HEADERS_AGENT},
                "paginator": {
                    "type": "header_cursor",
                    "cursor_key": "X-Next-Page",
                    "cursor_param": "page",
                },
            },
            "resources": [
                {
                    "name": "tickets",
                    "primary_key": "id",
                    "endpoint": {
                        "path": "tickets",
                        "params": {
                            "limit": 100,
                            "sort[property]": "updatedAt",
                            "sort[direction]": "desc",
                        },
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_octadesk",
        destination=dlt.destinations.duckdb(args.db),
        dataset_name="octadesk",
        pipelines_dir=args.pipelines_dir,
    )
    kwargs = {} if args.format == "default" else {"loader_file_format": args.format}
    info = pipeline.run(source, **kwargs)
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("tickets", 0)
    write_result(args.out, started, rows=rows)


if __name__ == "__main__":
    main()
