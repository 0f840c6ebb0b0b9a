"""What the CRM schedule runs."""

from support_assets.core.runs import source_job

crm_job = source_job(
    "crm",
    (
        "Reads Ploomes (contacts, tasks, interactions) and Milvus (every page of clients and "
        "tickets), matches clients by CPF/CNPJ, creates the clients missing on either side and "
        "a Milvus ticket per Ploomes task or interaction tagged INSTALAÇÃO or ENTREGA, never "
        "twice. Two runs at once could both decide to create the same record: limit this tag "
        "to one run at a time in the run queue (crm_sync_schedule also skips while one runs)."
    ),
)
