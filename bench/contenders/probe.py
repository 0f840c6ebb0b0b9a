"""The physical limit: pages/s the simulator serves with N requests in flight to a client that
does nothing with the answer but read its bytes."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from common import API_HEADERS_AGENT, parse_args, write_result


def main() -> None:
    args = parse_args(
        [
            ("--pages", {"type": int, "required": True}),
            ("--concurrency", {"type": int, "required": True}),
        ]
    )
    headers = {"X-API-KEY": args.api_key, "octa-agent-email": API_HEADERS_AGENT}
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    with httpx.Client(
        base_url=f"{args.base_url}/octadesk", headers=headers, timeout=60, limits=limits
    ) as client:

        def fetch(page: int) -> int:
            params = {
                "page": page,
                "limit": 100,
                "sort[property]": "updatedAt",
                "sort[direction]": "desc",
            }
            return len(client.get("/tickets", params=params).raise_for_status().content)

        fetch(1)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            total_bytes = sum(pool.map(fetch, range(1, args.pages + 1)))
        seconds = time.perf_counter() - started
    write_result(args.out, started, pages_per_second=args.pages / seconds, bytes=total_bytes)


if __name__ == "__main__":
    main()
