"""``marts/support_kpis_daily``: per São Paulo day (the partition), source, channel and agent,
the KPIs analysts compare, with a chart attached to each materialization."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
)

from support_assets.analytics.catalog import (
    GROUP,
    INTERACTIONS,
    KPI_PARTITIONS,
    KPIS,
    MART_AUTOMATION,
    MART_KINDS,
    MART_TAGS,
)
from support_assets.analytics.chart import chart_markdown, kpi_chart_png
from support_assets.analytics.frames import with_columns
from support_assets.analytics.interaction_rows import INTERACTION_COLUMNS
from support_assets.analytics.mart_checks import (
    mart_check_specs,
    no_raw_documents_result,
    unique_key_result,
)
from support_assets.core.constants import OWNERS, SAO_PAULO, WAREHOUSE

#: Agent value of the KPI rows that sum every agent of a source and channel.
ALL_AGENTS = "(all agents)"

KPI_COLUMNS = [
    "day",
    "source",
    "channel",
    "agent",
    "volume",
    "backlog_end_of_day",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "satisfaction_avg",
    "satisfaction_count",
    "satisfaction_scale_max",
    "solved_count",
    "solved_rate",
    "bot_started",
    "bot_contained",
    "bot_containment_share",
]

_KPIS_DESCRIPTION = (
    "Daily KPIs per São Paulo day (the partition), source, channel and agent, plus one row per "
    "source and channel with agent '(all agents)' summing every agent. Columns: day (DATE, São "
    "Paulo); source, channel, agent (as in marts/support_interactions; '(unassigned)' when no "
    "agent); volume (interactions created that day); backlog_end_of_day (interactions created "
    "by the end of the day and not closed by then, as their closing times are known now; "
    "service events are never backlog); first_response_median_seconds and "
    "first_response_p90_seconds, resolution_median_seconds and resolution_p90_seconds (median "
    "and 90th percentile, linear interpolation, over the day's interactions that have them); "
    "satisfaction_avg and satisfaction_count (responses of the day's interactions, on the "
    "source's scale given by satisfaction_scale_max); solved_count and solved_rate (solved / "
    "interactions whose outcome is known; null for Telegram conversations); bot_started, "
    "bot_contained and bot_containment_share (chats and Telegram conversations started with "
    "the bot, "
    "those that never reached a person, and their share; null where no chat started with the "
    "bot). Each materialization carries a chart of volume and satisfaction over the 30 days to "
    "the partition's day by channel (over the whole range for a run of several days)."
)


def _quantile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(np.quantile(values.to_numpy(dtype=float), q))


def _group_kpis(day: date, created: pd.DataFrame, backlog: int) -> dict[str, Any]:
    """The KPIs of one group from the interactions it created that day and its backlog."""
    sat = created["satisfaction_score"].dropna()
    scale = created["satisfaction_scale_max"].dropna()
    bot_started = int(created["with_bot"].fillna(False).sum())
    bot_contained = int(created["bot_contained"].fillna(False).sum())
    volume = len(created)
    solved = int(created["solved"].fillna(False).sum())
    solved_known = int(created["solved"].notna().sum())
    return {
        "day": day,
        "volume": volume,
        "backlog_end_of_day": backlog,
        "first_response_median_seconds": _quantile(created["first_response_seconds"], 0.5),
        "first_response_p90_seconds": _quantile(created["first_response_seconds"], 0.9),
        "resolution_median_seconds": _quantile(created["resolution_seconds"], 0.5),
        "resolution_p90_seconds": _quantile(created["resolution_seconds"], 0.9),
        "satisfaction_avg": float(sat.mean()) if len(sat) else None,
        "satisfaction_count": len(sat),
        "satisfaction_scale_max": int(scale.max()) if len(scale) else None,
        "solved_count": solved,
        "solved_rate": solved / solved_known if solved_known else None,
        "bot_started": bot_started,
        "bot_contained": bot_contained,
        "bot_containment_share": bot_contained / bot_started if bot_started else None,
    }


def day_bounds(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The São Paulo day as a UTC interval [start, end)."""
    start = datetime.combine(day, time(0), tzinfo=SAO_PAULO)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SAO_PAULO)
    return pd.Timestamp(start).tz_convert(UTC), pd.Timestamp(end).tz_convert(UTC)


def build_kpis(interactions: pd.DataFrame, day: date) -> pd.DataFrame:
    """The KPI rows of ``day``: per source, channel and agent, and per source and channel."""
    frame = interactions.copy()
    frame["agent"] = frame["agent"].fillna("(unassigned)")
    frame["channel"] = frame["channel"].fillna("(unknown)")
    start, end = day_bounds(day)
    created_today = frame[(frame["created_at_utc"] >= start) & (frame["created_at_utc"] < end)]
    open_at_end = frame[
        (frame["created_at_utc"] < end)
        & (frame["closed_at_utc"].isna() | (frame["closed_at_utc"] >= end))
        & (frame["source"] != "service_events")
    ]
    rows = []
    # Most groups of a day only have backlog: their KPIs over no interaction are computed once,
    # and the backlog is counted per group in one pass (a backfill runs this for every day).
    nothing_created = _group_kpis(day, created_today.iloc[0:0], 0)
    for by_agent in (True, False):
        keys = ["source", "channel", "agent"] if by_agent else ["source", "channel"]
        created = {tuple(k): part for k, part in created_today.groupby(keys, sort=False)}
        backlog = {tuple(k): n for k, n in open_at_end.groupby(keys, sort=False).size().items()}
        for group in sorted(set(created) | set(backlog)):
            if group in created:
                row = _group_kpis(day, created[group], backlog.get(group, 0))
            else:
                row = {**nothing_created, "backlog_end_of_day": backlog[group]}
            row.update(dict(zip(keys, group, strict=True)))
            if not by_agent:
                row["agent"] = ALL_AGENTS
            rows.append(row)
    kpis = pd.DataFrame(rows, columns=KPI_COLUMNS)
    return kpis.astype(
        {
            "volume": "int64",
            "backlog_end_of_day": "int64",
            "satisfaction_count": "int64",
            "solved_count": "int64",
            "bot_started": "int64",
            "bot_contained": "int64",
            "satisfaction_scale_max": "Int64",
            "first_response_median_seconds": "float64",
            "first_response_p90_seconds": "float64",
            "resolution_median_seconds": "float64",
            "resolution_p90_seconds": "float64",
            "satisfaction_avg": "float64",
            "solved_rate": "float64",
            "bot_containment_share": "float64",
        }
    )


@asset(
    key=KPIS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    partitions_def=KPI_PARTITIONS,
    ins={"interactions": AssetIn(INTERACTIONS)},
    metadata={
        "write_mode": "replace",
        "partition_column": "day",
        "primary_key": ["day", "source", "channel", "agent"],
    },
    owners=OWNERS,
    kinds=MART_KINDS,
    tags=MART_TAGS,
    description=_KPIS_DESCRIPTION,
    automation_condition=MART_AUTOMATION,
    check_specs=mart_check_specs(KPIS, "(day, source, channel, agent)"),
)
def support_kpis_daily(context: AssetExecutionContext, interactions: pd.DataFrame) -> Iterator[Any]:
    days = [date.fromisoformat(key) for key in context.partition_keys]
    interactions = with_columns(interactions, INTERACTION_COLUMNS).copy()
    for column in ("created_at_utc", "closed_at_utc"):
        interactions[column] = pd.to_datetime(interactions[column], utc=True)
    interactions["created_date_sao_paulo"] = (
        interactions["created_at_utc"].dt.tz_convert(SAO_PAULO).dt.date
    )
    kpis = pd.concat([build_kpis(interactions, day) for day in days], ignore_index=True)
    last = days[-1]
    # A run over a range of days (the demo's history) writes each day; its chart covers them all.
    png = kpi_chart_png(interactions, last, days=max(30, len(days)))
    created_today = int(interactions["created_date_sao_paulo"].isin(days).sum())
    rollups = kpis[kpis["agent"] == ALL_AGENTS]
    yield Output(
        kpis,
        metadata={
            "day": str(last) if len(days) == 1 else f"{days[0]} to {last}",
            "interactions_created": created_today,
            "groups": len(kpis),
            "chart": MetadataValue.md(chart_markdown(png, last)),
        },
    )
    yield unique_key_result(KPIS, kpis, ["day", "source", "channel", "agent"])
    yield no_raw_documents_result(KPIS, kpis)
    by_agent = kpis[kpis["agent"] != ALL_AGENTS]
    yield AssetCheckResult(
        asset_key=KPIS,
        check_name="row_count_matches_sources",
        passed=int(rollups["volume"].sum()) == created_today
        and int(by_agent["volume"].sum()) == created_today,
        metadata={
            "interactions_created": created_today,
            "volume_all_agents": int(rollups["volume"].sum()),
            "volume_by_agent": int(by_agent["volume"].sum()),
        },
    )
