"""What Octadesk's sensor and schedule run."""

from support_assets.core.runs import source_job

octadesk_job = source_job(
    "octadesk",
    "Loads Octadesk tickets and chats incrementally and rebuilds their staging tables.",
)
