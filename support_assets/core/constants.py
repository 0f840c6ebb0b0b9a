"""Names every floor shares: who owns the assets, the IO manager keys, the business time zone."""

from zoneinfo import ZoneInfo

#: The owners shown on every asset in the UI.
OWNERS = ["team:data-platform"]
#: IO manager keys (support_assets/deployment.py binds them to the configured stores).
WAREHOUSE = "warehouse_io_manager"
LAKE = "lake_io_manager"
DOCUMENTS = "documents_io_manager"
#: The companies' business time zone: local days, KPIs and source times without an offset.
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
