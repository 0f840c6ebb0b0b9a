"""What every analytics mart declares alike: asset keys, group, owners, store, automation
condition, the KPI partitions and the São Paulo time zone of their days."""

from collections.abc import Mapping
from datetime import date

from dagster import AssetKey, AutomationCondition, DailyPartitionsDefinition

from support_assets.core.settings import text_setting

GROUP = "analytics"
#: Kinds and tags every mart carries.
MART_KINDS = {"duckdb", "pandas"}
MART_TAGS = {"layer": "marts"}

CUSTOMERS = AssetKey(["marts", "customers"])
CUSTOMER_IDENTIFIERS = AssetKey(["marts", "customer_identifiers"])
INTERACTIONS = AssetKey(["marts", "support_interactions"])
KPIS = AssetKey(["marts", "support_kpis_daily"])
MART_KEYS = (CUSTOMERS, CUSTOMER_IDENTIFIERS, INTERACTIONS, KPIS)


def kpi_start_date(environ: Mapping[str, str] | None = None) -> str:
    """SUPPORT_KPI_START_DATE: the first day of the KPI partitions (where data can exist)."""
    value = text_setting("SUPPORT_KPI_START_DATE", environ).strip()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"SUPPORT_KPI_START_DATE must be YYYY-MM-DD, not {value!r}") from None


KPI_PARTITIONS = DailyPartitionsDefinition(
    start_date=kpi_start_date(), timezone="America/Sao_Paulo", end_offset=1
)
MART_AUTOMATION = AutomationCondition.eager()
