"""Where Dagster keeps step logs (stdout/stderr), chosen by the settings.

``deploy/dagster.yaml`` names :class:`SettingsComputeLogManager`; when the instance loads, it
reads ``SUPPORT_COMPUTE_LOGS``:

* ``local`` (default): Dagster's ``LocalComputeLogManager`` under ``$DAGSTER_HOME/storage``;
* ``s3``: dagster-aws's ``S3ComputeLogManager`` in ``SUPPORT_COMPUTE_LOGS_BUCKET`` under
  ``SUPPORT_COMPUTE_LOGS_PREFIX``, with the lake's ``SUPPORT_S3_REGION`` and
  ``SUPPORT_S3_ENDPOINT_URL`` (keys: the AWS credential chain);
* ``gcs``: dagster-gcp's ``GCSComputeLogManager`` in that bucket and prefix (credentials:
  Application Default Credentials).

The chosen manager's configuration goes through Dagster's own config validation (the class's
``config_type``) before it is built, and the manager carries its own class data, so run workers
that receive the instance's configuration rebuild that manager directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.storage.compute_log_manager import ComputeLogManager
from dagster._serdes import ConfigurableClassData

from support_assets.core.settings import text_setting

#: (module, class) of each choice.
MANAGERS = {
    "local": ("dagster._core.storage.local_compute_log_manager", "LocalComputeLogManager"),
    "s3": ("dagster_aws.s3.compute_log_manager", "S3ComputeLogManager"),
    "gcs": ("dagster_gcp.gcs.compute_log_manager", "GCSComputeLogManager"),
}
DEFAULT_PREFIX = "dagster/compute-logs"


def compute_log_config(environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The chosen manager (a key of ``MANAGERS``) and its configuration, from the settings."""
    kind = text_setting("SUPPORT_COMPUTE_LOGS", environ).strip().lower()
    if kind not in MANAGERS:
        raise ValueError(f"SUPPORT_COMPUTE_LOGS must be local, s3 or gcs, not {kind!r}")
    if kind == "local":
        home = environ.get("DAGSTER_HOME")
        if not home:
            raise ValueError(
                "SUPPORT_COMPUTE_LOGS=local keeps step logs under DAGSTER_HOME: set it"
            )
        return kind, {"base_dir": os.path.join(home, "storage")}
    bucket = text_setting("SUPPORT_COMPUTE_LOGS_BUCKET", environ).strip()
    if not bucket:
        raise ValueError(f"SUPPORT_COMPUTE_LOGS={kind} needs SUPPORT_COMPUTE_LOGS_BUCKET")
    config: dict[str, Any] = {
        "bucket": bucket,
        "prefix": text_setting("SUPPORT_COMPUTE_LOGS_PREFIX", environ),
    }
    if kind == "s3":
        region = text_setting("SUPPORT_S3_REGION", environ)
        endpoint = text_setting("SUPPORT_S3_ENDPOINT_URL", environ)
        config.update({"region": region} if region else {})
        config.update({"endpoint_url": endpoint} if endpoint else {})
    return kind, config


def validated_class_data(environ: Mapping[str, str]) -> ConfigurableClassData:
    """The chosen manager's class data, its configuration checked by the class's own schema."""
    import importlib

    kind, config = compute_log_config(environ)
    module_name, class_name = MANAGERS[kind]
    klass = getattr(importlib.import_module(module_name), class_name)
    result = process_config(resolve_to_config_type(klass.config_type()), config)
    if not result.success:
        raise DagsterInvalidConfigError(
            f"SUPPORT_COMPUTE_LOGS={kind}: invalid {class_name} configuration",
            result.errors,
            config,
        )
    return ConfigurableClassData(module_name, class_name, yaml.safe_dump(config))


class SettingsComputeLogManager(ComputeLogManager):
    """The instance's ``compute_logs`` entry: builds the manager the settings choose (never
    instantiated itself; see the module docstring)."""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> ComputeLogManager:
        return validated_class_data(os.environ).rehydrate(as_type=ComputeLogManager)
