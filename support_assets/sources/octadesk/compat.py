"""Compatibility views: the table today's Octadesk dashboards read, as a view over the platform's
staging tables, so a company switches without rebuilding its reports.

The old script wrote one table (``Sac_Octadesk``): tickets and chats together, custom fields as
columns, and ``upload``, the time of the load. ``marts/octadesk_compat_view`` creates (or
replaces) a view with that shape, named by ``SUPPORT_COMPAT_OCTADESK_VIEW``
(``[dataset.]name``; dataset ``compat`` when none is given), in DuckDB or BigQuery, whichever
the warehouse is (an existing table of that name is never replaced):

* one row per ticket and linked chat (``FULL OUTER JOIN`` on the ticket number, so tickets
  without a chat and chats without a ticket are rows too);
* every column of ``staging.octadesk_tickets`` as it is (``cf_<key>`` custom fields included),
  the chat's columns prefixed ``chat_`` (``channel`` -> ``chat_channel``, its custom fields
  ``chat_cf_<key>``; ``chat_id`` stays ``chat_id``);
* ``upload``: when the row's ticket (else its chat) was loaded (``_loaded_at``).

A view keeps no data of its own; it is re-created after every staging rebuild, so a custom
field that appears later becomes a column of the view too. Unset: no view is made.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext, AssetKey, ConfigurableResource, MaterializeResult, asset
from pydantic import Field

from support_assets.core.constants import OWNERS
from support_assets.io_managers.base import table_ref
from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager
from support_assets.io_managers.store import Target
from support_assets.io_managers.warehouse import quote_identifier
from support_assets.sources.octadesk.assets import GROUP, STAGING_CHATS, STAGING_TICKETS

COMPAT_OCTADESK = AssetKey(["marts", "octadesk_compat_view"])
DEFAULT_DATASET = "compat"
#: Columns of the platform that the view leaves out (``upload`` replaces them).
AUDIT_COLUMNS = ("_loaded_at", "_run_id")
JOIN_COLUMN = "ticket_number"
UPLOAD_COLUMN = "upload"


class CompatViewsSettings(ConfigurableResource):
    """Names of the compatibility views (``SUPPORT_COMPAT_*``); unset: none is made."""

    octadesk_view: str | None = Field(
        default=None, description="[dataset.]name of the Sac_Octadesk-like view."
    )

    def octadesk_view_name(self) -> tuple[str | None, str] | None:
        """``(dataset or None, name)``, or None when unset; a malformed name fails naming the
        setting."""
        if not self.octadesk_view:
            return None
        parts = self.octadesk_view.strip().split(".")
        valid = all(p and (p[0].isalpha() or p[0] == "_") for p in parts)
        if len(parts) > 2 or not valid or not all(p.replace("_", "").isalnum() for p in parts):
            raise ValueError(
                "SUPPORT_COMPAT_OCTADESK_VIEW must be [dataset.]name (letters, digits, _), not "
                f"{self.octadesk_view!r}"
            )
        return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


@dataclass(frozen=True)
class ViewColumns:
    tickets: list[str]
    chats: list[str]


def chat_column(column: str) -> str:
    """A chat column's name in the view: ``chat_`` in front unless it has it already."""
    return column if column.startswith("chat_") else f"chat_{column}"


def view_select(tickets: str, chats: str, columns: ViewColumns, q: Callable[[str], str]) -> str:
    """The view's SELECT over the two tables (names already quoted); ``q`` quotes a column."""
    ticket_columns = [c for c in columns.tickets if c not in AUDIT_COLUMNS]
    chat_columns = [c for c in columns.chats if c not in AUDIT_COLUMNS]
    select = [f"t.{q(c)} AS {q(c)}" for c in ticket_columns]
    select += [f"c.{q(c)} AS {q(chat_column(c))}" for c in chat_columns]
    select.append(f"COALESCE(t.{q('_loaded_at')}, c.{q('_loaded_at')}) AS {q(UPLOAD_COLUMN)}")
    return (
        "SELECT " + ", ".join(select) + f" FROM {tickets} AS t FULL OUTER JOIN {chats} AS c "
        f"ON t.{q(JOIN_COLUMN)} = c.{q(JOIN_COLUMN)}"
    )


_NOT_A_VIEW = (
    "{name} exists and is a table, not a view (the old script's table?): rename it to keep its "
    "history, then run again; a table is never replaced"
)


def _duckdb_view(
    warehouse: DuckDBWarehouseIOManager, dataset: str | None, name: str
) -> tuple[str, list[str]]:
    dataset = dataset or DEFAULT_DATASET

    def ref(key: AssetKey) -> str:
        table = table_ref(key)
        return f"{quote_identifier(table.schema)}.{quote_identifier(table.name)}"

    def columns(con: Any, key: AssetKey) -> list[str]:
        table = table_ref(key)
        rows = con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position",
            [table.schema, table.name],
        ).fetchall()
        if not rows:
            raise ValueError(f"{table} does not exist yet: materialize it before the view")
        return [r[0] for r in rows]

    view = f"{quote_identifier(dataset)}.{quote_identifier(name)}"
    con = warehouse.connect()
    try:
        found = ViewColumns(columns(con, STAGING_TICKETS), columns(con, STAGING_CHATS))
        sql = view_select(ref(STAGING_TICKETS), ref(STAGING_CHATS), found, quote_identifier)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(dataset)}")
        kind = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [dataset, name],
        ).fetchone()
        if kind is not None and kind[0] != "VIEW":
            raise ValueError(_NOT_A_VIEW.format(name=f"{dataset}.{name}"))
        con.execute(f"CREATE OR REPLACE VIEW {view} AS {sql}")
        described = con.execute(f"SELECT * FROM {view} LIMIT 0").description
    finally:
        con.close()
    return f"{dataset}.{name}", [d[0] for d in described]


def _bigquery_view(warehouse: Any, dataset: str | None, name: str) -> tuple[str, list[str]]:
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    from support_assets.io_managers.bigquery_schema import validate_dataset, validate_table

    dataset = dataset or warehouse.dataset_prefix + DEFAULT_DATASET
    client = warehouse.client()

    def target(key: AssetKey) -> Target:
        return Target(ref=table_ref(key), key_path=tuple(key.path), partition=None, run_id="")

    def columns(key: AssetKey) -> list[str]:
        return [f.name for f in client.get_table(warehouse.table_id(target(key))).schema]

    def quote(column: str) -> str:
        return f"`{column}`"

    found = ViewColumns(columns(STAGING_TICKETS), columns(STAGING_CHATS))
    sql = view_select(
        warehouse.table_sql(target(STAGING_TICKETS)),
        warehouse.table_sql(target(STAGING_CHATS)),
        found,
        quote,
    )
    dataset_id = f"{warehouse.project}.{validate_dataset(dataset)}"
    client.create_dataset(
        bigquery.Dataset(dataset_id), exists_ok=True, timeout=warehouse.job_timeout_seconds
    )
    view_id = f"{dataset_id}.{validate_table(name)}"
    try:
        existing = client.get_table(view_id)
    except NotFound:
        existing = None
    if existing is not None and existing.table_type != "VIEW":
        raise ValueError(_NOT_A_VIEW.format(name=view_id))
    client.delete_table(view_id, not_found_ok=True)
    view = bigquery.Table(view_id)
    view.view_query = sql
    created = client.create_table(view)
    return view_id, [f.name for f in created.schema] or _bigquery_columns(client, view_id)


def _bigquery_columns(client: Any, view_id: str) -> list[str]:
    """The view's columns from a query (some servers leave a new view's schema empty)."""
    project, dataset, name = view_id.split(".")
    rows = client.query(f"SELECT * FROM `{project}`.`{dataset}`.`{name}` LIMIT 0").result()
    return [f.name for f in rows.schema]


@asset(
    key=COMPAT_OCTADESK,
    group_name=GROUP,
    deps=[STAGING_TICKETS, STAGING_CHATS],
    required_resource_keys={"warehouse_io_manager", "compat_views"},
    owners=OWNERS,
    kinds={"sql"},
    tags={"layer": "marts", "source": "octadesk"},
    description=(
        "A view with the shape the old Octadesk script's table (Sac_Octadesk) had, named by "
        "SUPPORT_COMPAT_OCTADESK_VIEW: one row per ticket and linked chat (full outer join on the "
        "ticket number), every staging ticket column (cf_<key> custom fields included), the "
        "chat's columns as chat_<column>, and upload (when the row was loaded). Re-created after "
        "each staging rebuild; nothing when the setting is unset."
    ),
)
def octadesk_compat_view(context: AssetExecutionContext) -> MaterializeResult:
    settings: CompatViewsSettings = context.resources.compat_views
    named = settings.octadesk_view_name()
    if named is None:
        return MaterializeResult(metadata={"enabled": False})
    warehouse = context.resources.warehouse_io_manager
    if isinstance(warehouse, DuckDBWarehouseIOManager):
        view, columns = _duckdb_view(warehouse, *named)
    else:
        view, columns = _bigquery_view(warehouse, *named)
    context.log.info("view %s: %d columns", view, len(columns))
    return MaterializeResult(metadata={"enabled": True, "view": view, "columns": len(columns)})
