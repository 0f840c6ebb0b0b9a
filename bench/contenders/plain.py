"""Baseline: the script people already have. One request at a time with httpx, every record in
a list, one pandas DataFrame, full replace of the DuckDB table."""

import json
import time

import duckdb
import httpx
import pandas as pd
from common import API_HEADERS_AGENT, parse_args, write_result


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    headers = {"X-API-KEY": args.api_key, "octa-agent-email": API_HEADERS_AGENT}
    records = []
    pages = 0
    with httpx.Client(base_url=f"{args.base_url}/octadesk", headers=headers, timeout=60) as client:
        page = 1
        while True:
            response = client.get(
                "/tickets",
                params={
                    "page": page,
                    "limit": 100,
                    "sort[property]": "updatedAt",
                    "sort[direction]": "desc",
                },
            )
            response.raise_for_status()
            records.extend(response.json())
            pages += 1
            if "X-Next-Page" not in response.headers:
                break
            page += 1
    frame = pd.DataFrame(
        {
            "id": [r["id"] for r in records],
            "number": [r["number"] for r in records],
            "status": [r["status"]["name"] for r in records],
            "updated_at": pd.to_datetime([r["updatedAt"] for r in records], utc=True),
            "record": [json.dumps(r, ensure_ascii=False) for r in records],
        }
    )
    with duckdb.connect(args.db) as con:
        con.execute("CREATE OR REPLACE TABLE tickets AS SELECT * FROM frame")
    write_result(args.out, started, rows=len(frame), pages=pages)


if __name__ == "__main__":
    main()
