"""Ours: materialize only ``raw/octadesk_tickets`` through Dagster, in process, with the
platform's own resource and DuckDB warehouse IO manager (the code path production runs).

The Dagster instance lives in ``--dagster-home`` so a second run is incremental from the first
run's high-water mark, as in production.
"""

import os
import time

from common import API_HEADERS_AGENT, parse_args, write_result


def main() -> None:
    args = parse_args(
        [
            ("--dagster-home", {"required": True}),
            ("--full-refresh", {"action": "store_true"}),
            ("--concurrency", {"type": int, "default": None}),
            ("--rate-limit", {"type": float, "default": None}),
        ]
    )
    os.makedirs(args.dagster_home, exist_ok=True)
    os.environ["DAGSTER_HOME"] = args.dagster_home
    from dagster import DagsterInstance, materialize

    from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager
    from support_assets.sources.octadesk.assets import RAW_TICKETS, octadesk_raw_tickets
    from support_assets.sources.octadesk.client import OctadeskResource

    # Without --concurrency / --rate-limit, the resource's defaults: what a user gets who sets
    # nothing.
    tuning = {
        key: value
        for key, value in (
            ("max_concurrency", args.concurrency),
            ("rate_limit_per_second", args.rate_limit),
        )
        if value is not None
    }
    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = materialize(
            [octadesk_raw_tickets],
            instance=instance,
            resources={
                "octadesk": OctadeskResource(
                    base_url=f"{args.base_url}/octadesk",
                    api_key=args.api_key,
                    agent_email=API_HEADERS_AGENT,
                    **tuning,
                ),
                "warehouse_io_manager": DuckDBWarehouseIOManager(path=args.db),
            },
            run_config={
                "ops": {"octadesk_raw_tickets": {"config": {"full_refresh": args.full_refresh}}}
            },
        )
        [event] = [
            e
            for e in result.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key == RAW_TICKETS
        ]
        metadata = {
            k: v.value for k, v in event.event_specific_data.materialization.metadata.items()
        }
    write_result(
        args.out,
        started,
        rows=int(metadata["rows_written"]),
        records_fetched=int(metadata["records_fetched"]),
        pages=int(metadata["pages_fetched"]),
        chunks=int(metadata["chunks"]),
        pages_requested=int(metadata.get("pages_requested", metadata["pages_fetched"])),
        row_count=int(metadata["dagster/row_count"]),
    )


if __name__ == "__main__":
    main()
