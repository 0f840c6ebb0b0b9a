"""Analytics marts: one view of customers and of support interactions, and daily KPIs.

* ``marts/customers`` and ``marts/customer_identifiers`` (``customers``, from the pseudonymous
  identifiers of ``identifiers``): one row per customer resolved across every source.
* ``marts/support_interactions`` (``interactions``): one row per interaction of every source in
  common columns.
* ``marts/support_kpis_daily`` (``kpis``): per São Paulo day, source, channel and agent, the KPIs
  analysts compare, with a chart (``chart``) attached to each materialization.

All follow their sources declaratively (``AutomationCondition.eager()``, evaluated by
``marts_automation_sensor``); freshness policies on their sources warn when one falls behind
(``automation``), and in-body checks guard every mart (``mart_checks``). This module is what the
code location loads of them.
"""

from collections.abc import Mapping

from dagster import Definitions

from support_assets.analytics.automation import marts_automation_sensor
from support_assets.analytics.customers import marts_customers
from support_assets.analytics.interactions import support_interactions
from support_assets.analytics.kpis import support_kpis_daily

MARTS_ASSETS = [marts_customers, support_interactions, support_kpis_daily]


def definitions(env: Mapping[str, str]) -> Definitions:
    return Definitions(assets=MARTS_ASSETS, sensors=[marts_automation_sensor])
