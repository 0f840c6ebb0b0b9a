"""The chart attached to each ``marts/support_kpis_daily`` materialization: volume and
satisfaction per day by source and channel, as a PNG embedded in Markdown."""

import base64
import io
from datetime import date, timedelta

import pandas as pd


def kpi_chart_png(interactions: pd.DataFrame, day: date, days: int = 30) -> bytes:
    """Volume and satisfaction (share of the scale, 0-1) per day by source/channel, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = day - timedelta(days=days - 1)
    frame = interactions[
        (interactions["created_date_sao_paulo"] >= first)
        & (interactions["created_date_sao_paulo"] <= day)
    ].copy()
    frame["series"] = frame["source"] + "/" + frame["channel"].fillna("(unknown)")
    frame["satisfaction_share"] = frame["satisfaction_score"] / frame["satisfaction_scale_max"]
    all_days = pd.date_range(first, day, freq="D").date
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for series, part in sorted(frame.groupby("series"), key=lambda kv: kv[0]):
        volume = part.groupby("created_date_sao_paulo").size().reindex(all_days, fill_value=0)
        top.plot(list(all_days), volume.to_numpy(), marker="o", markersize=3, label=series)
        sat = part.groupby("created_date_sao_paulo")["satisfaction_share"].mean()
        sat = sat.reindex(all_days)
        if sat.notna().any():
            bottom.plot(
                list(all_days), sat.to_numpy(dtype=float), marker="o", markersize=3, label=series
            )
    top.set_title(f"Interactions per day by channel, {first} to {day} (São Paulo days)")
    top.set_ylabel("volume")
    top.legend(fontsize=7, ncol=2, loc="upper left")
    bottom.set_title("Satisfaction (average, as a share of the source's scale)")
    bottom.set_ylabel("satisfaction (0-1)")
    bottom.set_ylim(0, 1.05)
    bottom.legend(fontsize=7, ncol=2, loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def chart_markdown(png: bytes, day: date) -> str:
    """The PNG as a Markdown image (Dagster's UI shows it with the materialization)."""
    encoded = base64.b64encode(png).decode()
    return f"![Volume and satisfaction by channel to {day}](data:image/png;base64,{encoded})"
