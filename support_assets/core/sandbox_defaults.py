"""The sandbox's published demo credentials and identifiers.

Production settings fall back to these while a source's URL is unset, so the code location runs
against the local sandbox out of the box; the simulators accept exactly these values. They are
public on purpose: none of them opens anything outside the sandbox.
"""

from __future__ import annotations

#: The API key every request to the simulated Octadesk must carry in `X-API-KEY`.
SANDBOX_OCTADESK_API_KEY = "sandbox-octadesk-key"

#: The bot token the simulated Bot API accepts (`<bot id>:<35 characters>`, as real ones are).
SANDBOX_TELEGRAM_BOT_TOKEN = "7412300001:AAH-sandbox_Telegram_bot_token_0123"
#: The webhook secret the demo registers and the receiver expects by default.
SANDBOX_TELEGRAM_WEBHOOK_SECRET = "sandbox-telegram-webhook-secret"

#: Credentials the simulated web helpdesk accepts.
SANDBOX_HELPDESK_WEB_USER = "robo@empresa.com.br"
SANDBOX_HELPDESK_WEB_PASSWORD = "sandbox-helpdesk-pass-7Hq2"
SANDBOX_HELPDESK_WEB_API_TOKEN = "sandbox-tiflux-token-Vb81xQ"

#: The spreadsheet the sandbox's Apps Script fills with OTPs.
SANDBOX_OTP_SHEET_ID = "sandbox-otp-sheet"
#: The OTP goes in this cell and the time the e-mail arrived in the cell to its right.
SANDBOX_OTP_CELL = "OTP!A2"

#: The key every request to the simulated Ploomes must carry in `User-Key`.
SANDBOX_PLOOMES_USER_KEY = "sandbox-ploomes-user-key"
#: Ids of the simulated Ploomes's INSTALAÇÃO and ENTREGA task tags.
SANDBOX_PLOOMES_TAG_INSTALACAO = 40001
SANDBOX_PLOOMES_TAG_ENTREGA = 40002

#: The token every request to the simulated Milvus must carry in `Authorization`.
SANDBOX_MILVUS_API_TOKEN = "sandbox-milvus-api-token"
