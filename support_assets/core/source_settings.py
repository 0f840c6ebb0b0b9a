"""Each source's settings: Octadesk, the web helpdesk, the CRM (Ploomes, Milvus), Telegram,
the service events broker.
"""

from __future__ import annotations

from support_assets.core.settings_model import Setting, under_sandbox

SOURCE_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SUPPORT_COMPAT_OCTADESK_VIEW",
        "",
        "[dataset.]name of a view shaped like the old Octadesk script's table (Sac_Octadesk): "
        "tickets and linked chats, cf_<key> custom fields as columns, upload = load time; "
        "dataset compat (with BIGQUERY_DATASET_PREFIX on BigQuery) when none is given.",
        documented="unset: no view",
    ),
    Setting(
        "OCTADESK_BASE_URL",
        under_sandbox("octadesk"),
        "Octadesk tenant API, e.g. https://<tenant>.api004.octadesk.services.",
        documented="$SUPPORT_SANDBOX_URL/octadesk",
    ),
    Setting(
        "OCTADESK_API_KEY",
        "",
        "Octadesk X-API-KEY.",
        secret=True,
        documented="the sandbox's demo key",
    ),
    Setting(
        "OCTADESK_AGENT_EMAIL",
        "sandbox@support-assets.local",
        "Agent e-mail sent as octa-agent-email.",
    ),
    Setting(
        "OCTADESK_RATE_LIMIT_PER_SECOND",
        200.0,
        "Ceiling of the requests a second the Octadesk client allows itself: it starts there, "
        "slows down to a little under half after each 429 and recovers slowly, never above it.",
    ),
    Setting(
        "OCTADESK_TIMEOUT_SECONDS",
        30.0,
        "Seconds before an Octadesk request times out (and is retried).",
    ),
    Setting(
        "OCTADESK_MAX_CONCURRENCY",
        8,
        "Octadesk pages fetched in parallel (within the rate limit).",
    ),
    Setting(
        "SUPPORT_SENSOR_INTERVAL_SECONDS",
        60,
        "Minimum seconds between two ticks of octadesk_changes_sensor (each tick asks Octadesk "
        "whether anything changed); read when the code location loads.",
    ),
    Setting(
        "HELPDESK_WEB_BASE_URL",
        under_sandbox("helpdesk_web"),
        "Web helpdesk root: the web application (otp mode), or https://api.tiflux.com in "
        "token mode (the API is under /api/v2). Once set, the sandbox defaults below no longer "
        "apply.",
        documented="$SUPPORT_SANDBOX_URL/helpdesk_web",
    ),
    Setting(
        "HELPDESK_WEB_AUTH",
        "otp",
        "otp: web login with password and the e-mailed OTP read from the sheet; token: "
        "Tiflux API v2 with HELPDESK_WEB_API_TOKEN, no sheet.",
    ),
    Setting(
        "HELPDESK_WEB_USER",
        "robo@empresa.com.br",
        "Web helpdesk login user (otp mode).",
    ),
    Setting(
        "HELPDESK_WEB_PASSWORD",
        "",
        "Web helpdesk login password (otp mode).",
        secret=True,
        documented="the sandbox's demo password",
    ),
    Setting(
        "HELPDESK_WEB_API_TOKEN",
        "",
        "Tiflux API v2 token, sent as Authorization: Bearer (token mode).",
        secret=True,
        documented="the sandbox's demo token",
    ),
    Setting(
        "OTP_SHEET_ID",
        "",
        "Google Sheet the Apps Script copies the OTP e-mail into.",
        documented="the sandbox's OTP sheet",
    ),
    Setting(
        "OTP_SHEET_CELL",
        "OTP!A2",
        "Cell holding the OTP (A1 notation); the e-mail's arrival time goes in the cell to its "
        "right.",
    ),
    Setting(
        "GOOGLE_SERVICE_ACCOUNT_FILE",
        "",
        "Service-account JSON with read access to the OTP sheet. Required for a real sheet.",
        documented="a throwaway sandbox file in $SUPPORT_DATA_DIR",
    ),
    Setting(
        "GOOGLE_SHEETS_BASE_URL",
        "https://sheets.googleapis.com",
        "Sheets API root. Google's, except that with HELPDESK_WEB_BASE_URL, OTP_SHEET_ID and "
        "GOOGLE_SERVICE_ACCOUNT_FILE all unset it is the sandbox's $SUPPORT_SANDBOX_URL/sheets.",
    ),
    Setting(
        "OTP_TIMEOUT_SECONDS",
        180.0,
        "Seconds to wait for an OTP newer than the login before the run fails.",
    ),
    Setting(
        "PLOOMES_BASE_URL",
        under_sandbox("ploomes"),
        "Ploomes API root, e.g. https://public-api2.ploomes.com. Once set, PLOOMES_USER_KEY must "
        "be set too.",
        documented="$SUPPORT_SANDBOX_URL/ploomes",
    ),
    Setting(
        "PLOOMES_USER_KEY",
        "",
        "Ploomes User-Key of the integration user.",
        secret=True,
        documented="the sandbox's demo key",
    ),
    Setting(
        "PLOOMES_RATE_LIMIT_PER_SECOND",
        2.0,
        "Ceiling of the requests a second the Ploomes client allows itself (it halves on 429 "
        "and recovers slowly, never above it).",
    ),
    Setting(
        "PLOOMES_TAG_INSTALACAO_ID",
        "",
        "Ploomes tag id of INSTALAÇÃO: tasks and interactions carrying it become Milvus tickets. "
        "Unset with PLOOMES_BASE_URL set: every tag Ploomes lists named INSTALAÇÃO (accents and "
        "case aside); none found fails the run naming this setting. The sandbox's id is used "
        "only while PLOOMES_BASE_URL is unset.",
        documented="looked up by name (40001 in the sandbox)",
    ),
    Setting(
        "PLOOMES_TAG_ENTREGA_ID",
        "",
        "Ploomes tag id of ENTREGA, as PLOOMES_TAG_INSTALACAO_ID: looked up by the name ENTREGA "
        "when unset with PLOOMES_BASE_URL set.",
        documented="looked up by name (40002 in the sandbox)",
    ),
    Setting(
        "MILVUS_BASE_URL",
        under_sandbox("milvus/api"),
        "Milvus integration API root, e.g. https://apiintegracao.milvus.com.br/api. Once set, "
        "MILVUS_API_TOKEN must be set too.",
        documented="$SUPPORT_SANDBOX_URL/milvus/api",
    ),
    Setting(
        "MILVUS_API_TOKEN",
        "",
        "Milvus integration token, sent as Authorization.",
        secret=True,
        documented="the sandbox's demo token",
    ),
    Setting(
        "MILVUS_RATE_LIMIT_PER_SECOND",
        3.0,
        "Ceiling of the requests a second the Milvus client allows itself (Milvus's limit is "
        "undocumented; it halves on 429 and recovers slowly, never above it).",
    ),
    Setting(
        "MILVUS_DOCUMENT_AS",
        "string",
        "How cliente_documento goes to Milvus: string (zero-padded text, so a CPF or CNPJ that "
        "starts with 0 keeps it) or number (a JSON number as the API documents it, for a tenant "
        "that refuses text; leading zeros are then lost in Milvus, which the sync warns about).",
    ),
    Setting(
        "MILVUS_TICKET_DESK",
        "Mesa padrão",
        "Milvus desk (chamado_mesa) of the tickets the CRM sync opens.",
    ),
    Setting(
        "CRM_SYNC_START_DATE",
        "2024-02-24",
        "São Paulo date: Ploomes tasks and interactions created before it never become tickets.",
    ),
    Setting(
        "CRM_SYNC_DRY_RUN",
        False,
        "true: the CRM sync looks things up and reports in its metadata what it would create, "
        "calls no create endpoint and leaves its cursors where they were.",
    ),
    Setting(
        "CRM_LEGACY_SENT_COLLECTION",
        "",
        "MongoDB collection where the old Ploomes → Milvus script kept the CPF/CNPJ of the "
        "clients it sent. Set: marts/crm_legacy_import runs once before the first sync, imports "
        "it into crm_sync_state and links the tickets the script opened (no marker) to their "
        "Ploomes items by client and creation time.",
        documented="unset: no migration",
    ),
    Setting(
        "CRM_LEGACY_SENT_FIELD",
        "cnpj_cpf",
        "Field of that collection holding the CPF/CNPJ (formatted or bare).",
    ),
    Setting(
        "CRM_LEGACY_MONGODB_URI",
        "",
        "MongoDB server of the old script, when it is not the documents store (MONGODB_URI).",
        secret=True,
        documented="unset: the documents store",
    ),
    Setting(
        "CRM_LEGACY_MONGODB_DATABASE",
        "",
        "Database of the old script's collection.",
        documented="MONGODB_DATABASE",
    ),
    Setting(
        "CRM_LEGACY_TICKET_WINDOW_MINUTES",
        60,
        "How long after a Ploomes task or interaction was created a Milvus ticket without a "
        "marker, for the same client, is taken as the one the old script opened for it (from 5 "
        "minutes before).",
    ),
    Setting(
        "TELEGRAM_BOT_TOKEN",
        "",
        "Telegram bot token from @BotFather (it sits in every API URL; redacted in logs).",
        secret=True,
        documented="the sandbox's demo token",
    ),
    Setting(
        "TELEGRAM_API_BASE_URL",
        "https://api.telegram.org",
        "Bot API root. Telegram's, except that with TELEGRAM_BOT_TOKEN also unset it is the "
        "sandbox's $SUPPORT_SANDBOX_URL/telegram.",
    ),
    Setting(
        "TELEGRAM_WEBHOOK_SECRET",
        "",
        "Secret token given to setWebhook and required in X-Telegram-Bot-Api-Secret-Token by "
        "the webhook receiver (1-256 of A-Z a-z 0-9 _ -, nothing else, no trailing newline). "
        "The receiver refuses to start without it, unless started with --sandbox.",
        secret=True,
        documented="none: required by the receiver (the sandbox's only with webhook --sandbox)",
    ),
    Setting(
        "TELEGRAM_WEBHOOK_MAX_BODY_BYTES",
        1024 * 1024,
        "Largest request body the webhook receiver reads (413 above it).",
    ),
    Setting(
        "TELEGRAM_POLL_TIMEOUT_SECONDS",
        30,
        "Long-polling wait of each getUpdates call of the poller (0-50).",
    ),
    Setting(
        "STOMP_HOST",
        "127.0.0.1",
        "ActiveMQ broker (STOMP) of the service events. Unset: the local broker make demo "
        "starts, and a run that finds none there consumes nothing and says so; once set, an "
        "unreachable broker fails the run.",
    ),
    Setting("STOMP_PORT", 61613, "STOMP port of the broker."),
    Setting(
        "STOMP_USER",
        "",
        "STOMP login, when the broker requires one.",
        documented="none (no login)",
    ),
    Setting(
        "STOMP_PASSWORD",
        "",
        "STOMP passcode.",
        secret=True,
        documented="none",
    ),
    Setting(
        "STOMP_DESTINATION",
        "/topic/support.service_events",
        "Topic the attendance system publishes service events to.",
    ),
    Setting(
        "STOMP_CLIENT_ID",
        "support-assets",
        "client-id of the platform's durable subscription (one connection at a time holds it).",
    ),
    Setting(
        "STOMP_SUBSCRIPTION_NAME",
        "support-assets.service_events",
        "Name of the durable subscription (activemq.subscriptionName); the broker keeps "
        "messages for it, published after it was first created, until they are acknowledged.",
    ),
    Setting(
        "STOMP_PREFETCH",
        1000,
        "activemq.prefetchSize of the subscription, and so the largest batch: the broker stops "
        "dispatching at that many unacknowledged messages, and a run acknowledges each batch "
        "after writing it before it reads the next.",
    ),
)
