"""Settings and run configuration of the CRM assets: the deployment's sync settings (dry run,
start date, ticket tags, desk) and the per-run options of the raw and sync assets."""

from datetime import date, datetime

from dagster import Config, ConfigurableResource
from pydantic import Field

from support_assets.core.constants import SAO_PAULO
from support_assets.sources.crm.ploomes import PloomesResource

TAG_LABELS = {"installation": "INSTALAÇÃO", "delivery": "ENTREGA"}
#: The setting that gives each tag's id when its name is not looked up.
TAG_SETTINGS = {"installation": "PLOOMES_TAG_INSTALACAO_ID", "delivery": "PLOOMES_TAG_ENTREGA_ID"}


class CrmSyncSettings(ConfigurableResource):
    """Deployment settings of the sync (``CRM_*``, ``PLOOMES_TAG_*``, ``MILVUS_TICKET_DESK``)."""

    dry_run: bool = Field(default=False, description="Report what would be created; create none.")
    start_date: str = Field(
        default="2024-02-24",
        description="Tasks and interactions created before this São Paulo date are not synced.",
    )
    installation_tag_id: int | None = Field(
        default=None, description="Ploomes tag id of INSTALAÇÃO; None: looked up by its name."
    )
    delivery_tag_id: int | None = Field(
        default=None, description="Ploomes tag id of ENTREGA; None: looked up by its name."
    )
    ticket_desk: str = Field(default="Mesa padrão", description="Milvus desk of new tickets.")

    def start(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.start_date), datetime.min.time()).replace(
            tzinfo=SAO_PAULO
        )

    def tags(self, ploomes: PloomesResource) -> dict[int, str]:
        """Tag id → ``installation`` or ``delivery``: the ids the settings give, else every tag
        Ploomes lists under the name (``INSTALAÇÃO``, ``ENTREGA``, accents and case aside).
        A tag neither set nor found fails the run naming its setting."""
        configured = {"installation": self.installation_tag_id, "delivery": self.delivery_tag_id}
        tags: dict[int, str] = {}
        for kind, tag_id in configured.items():
            ids = [tag_id] if tag_id is not None else ploomes.find_tag_ids(TAG_LABELS[kind])
            if not ids:
                raise ValueError(
                    f"{TAG_SETTINGS[kind]} is not set and Ploomes lists no tag named "
                    f"{TAG_LABELS[kind]}: set {TAG_SETTINGS[kind]} to the id of the tag whose "
                    "tasks and interactions become Milvus tickets"
                )
            clash = [i for i in ids if i in tags]
            if clash:
                raise ValueError(
                    f"tag id(s) {clash} stand for both INSTALAÇÃO and ENTREGA: check "
                    f"{TAG_SETTINGS['installation']} and {TAG_SETTINGS['delivery']}"
                )
            tags.update(dict.fromkeys(ids, kind))
        return tags


class CrmRawConfig(Config):
    """How much of Ploomes to read: changes since the last high-water mark, or everything."""

    full_refresh: bool = Field(default=False, description="Ignore the high-water mark.")
    lookback_minutes: int = Field(
        default=10, ge=0, description="Re-read this far behind the high-water mark."
    )


class CrmSyncConfig(Config):
    """How far behind its cursor a sync asset looks again (the state makes re-reads harmless)."""

    lookback_minutes: int = Field(default=60, ge=0)
    full_resync: bool = Field(
        default=False, description="Ignore the cursor: consider every record (still no duplicate)."
    )
