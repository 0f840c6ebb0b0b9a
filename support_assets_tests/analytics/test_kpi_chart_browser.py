"""The KPI chart in the Dagster UI, in a real Chromium: the sources and the marts are materialized
from the sandbox into a deployment's instance, then ``dagster dev`` serves that instance and the
page of ``marts/support_kpis_daily``'s latest materialization shows the chart as an image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance

from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_BOT_TOKEN
from support_assets_tests.analytics.test_marts import (
    CONFIG,
    Pipeline,
    busiest_chat_day,
    expected_interactions,
)
from support_assets_tests.support.e2e_helpers import (
    ARTIFACTS_DIR,
    CHROMIUM,
    CHROMIUM_ARGS,
    dagster_dev,
    deployment_env,
    make_warehouse,
    running_sandbox,
    tail,
)


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A sandbox, a deployment's folders, and the marts materialized into its instance."""
    fields = {f: getattr(CONFIG, f) for f in CONFIG.__dataclass_fields__}
    with running_sandbox(**fields) as sandbox:
        warehouse = make_warehouse(tmp_path / "deployment")
        env = deployment_env(
            warehouse,
            sandbox.url,
            {
                "OCTADESK_RATE_LIMIT_PER_SECOND": "500",
                "OCTADESK_AGENT_EMAIL": "analista@empresa.com.br",
                "TELEGRAM_API_BASE_URL": f"{sandbox.url}/telegram",
                "TELEGRAM_BOT_TOKEN": SANDBOX_TELEGRAM_BOT_TOKEN,
                "PLOOMES_RATE_LIMIT_PER_SECOND": "500",
                "MILVUS_RATE_LIMIT_PER_SECOND": "500",
                "OTP_TIMEOUT_SECONDS": "20",
            },
        )
        for name in list(env):
            if name.startswith(("HELPDESK_WEB_", "OTP_", "GOOGLE_", "STOMP_", "MONGODB_")):
                if name != "OTP_TIMEOUT_SECONDS":
                    env.pop(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with DagsterInstance.from_config(str(warehouse.dagster_home)) as instance:
            pipeline = Pipeline(sandbox, env, instance)
            pipeline.run_sources()
            pipeline.run_marts()
            day = busiest_chat_day(expected_interactions(pipeline))
            assert pipeline.run_kpis(day).success
            pipeline.admin.close()
        yield {"env": env, "root": warehouse.root, "day": day, "log": tmp_path / "dev.log"}


@pytest.mark.browser
def test_kpi_chart_renders_on_the_materialization_page(deployment: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    day = deployment["day"].isoformat()
    with (
        dagster_dev(deployment["env"], cwd=deployment["root"], log=deployment["log"]) as dev,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.set_default_timeout(45_000)
            page.goto(f"{dev.url}/assets/marts/support_kpis_daily?view=events&partition={day}")
            chart = page.locator('img[src^="data:image/png;base64,"]')
            if not chart.count():
                show = page.get_by_text("Show Markdown", exact=False)
                show.first.wait_for(timeout=45_000)
                show.first.click()
            expect(chart.first).to_be_visible(timeout=45_000)
            size = chart.first.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size[0] >= 600 and size[1] >= 400, size  # decoded and drawn, not a broken icon
            chart.first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS_DIR / "kpi-chart-materialization.png"))
        except Exception as exc:
            page.screenshot(path=str(ARTIFACTS_DIR / "kpi-chart-failure.png"))
            raise AssertionError(f"{exc}\n--- dagster dev log ---\n{tail(dev.log)}") from exc
        finally:
            browser.close()
