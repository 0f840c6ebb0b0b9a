"""The Telegram webhook as a Lambda function: API Gateway HTTP API events (payload 2.0) in,
updates on a real S3 endpoint (moto's server over HTTP) out, picked up by the landing sensor.

The handler runs in process, as Lambda's runtime calls it; S3 is real HTTP to moto, through the
lake's S3 resource and the AWS credential chain (fake keys in the environment).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dagster import DagsterInstance, build_sensor_context

from support_assets.io_managers.landing import LandingZoneResource
from support_assets.sources.telegram import lambda_handler as telegram_lambda
from support_assets.sources.telegram.sensors import telegram_landing_sensor
from support_assets.sources.telegram.webhook import SECRET_HEADER
from support_assets_tests.support.s3_server import MotoS3, running_moto_s3

SECRET = "lambda-test-secret_0123"
UPDATE = {
    "update_id": 900001,
    "message": {
        "message_id": 7,
        "date": 1764806400,
        "chat": {"id": 5001, "type": "private"},
        "from": {"id": 5001, "is_bot": False, "first_name": "Ana"},
        "text": "Olá, preciso de ajuda 🙂",
    },
}


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with running_moto_s3() as server:
        yield server


@pytest.fixture
def settings(s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The function's environment: a bucket of its own on moto, the secret, a small limit."""
    bucket = s3.create_bucket()
    env = {
        "SUPPORT_LAKE_URL": f"s3://{bucket}/lake",
        "SUPPORT_S3_ENDPOINT_URL": s3.endpoint_url,
        "SUPPORT_S3_REGION": s3.region,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_WEBHOOK_MAX_BODY_BYTES": "4096",
        "TELEGRAM_BOT_TOKEN": "123:real-looking-token",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    telegram_lambda._receiver.cache_clear()
    yield {**env, "bucket": bucket}
    telegram_lambda._receiver.cache_clear()


def http_api_event(
    body: str | bytes, *, secret: str | None = SECRET, base64_body: bool = False, **headers: str
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event as Lambda receives it."""
    raw = body.encode() if isinstance(body, str) else body
    all_headers = {"content-type": "application/json", "content-length": str(len(raw)), **headers}
    if secret is not None:
        all_headers[SECRET_HEADER.lower()] = secret
    return {
        "version": "2.0",
        "routeKey": "POST /telegram/webhook",
        "rawPath": "/telegram/webhook",
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.sa-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": "/telegram/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "149.154.167.220",
                "userAgent": "",
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "POST /telegram/webhook",
            "stage": "$default",
            "timeEpoch": 1764806400000,
        },
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode(),
        "isBase64Encoded": base64_body,
    }


def landed_keys(s3: MotoS3, bucket: str) -> list[str]:
    return [k for k in s3.keys(bucket, "lake/landing/telegram/") if not k.endswith("/")]


def test_a_forged_secret_gets_403_and_nothing_lands(s3: MotoS3, settings: dict) -> None:
    for secret in ("wrong-secret", None, SECRET + "x"):
        answer = telegram_lambda.handler(http_api_event(json.dumps(UPDATE), secret=secret), None)
        assert answer["statusCode"] == 403, answer
        assert json.loads(answer["body"])["ok"] is False
    assert landed_keys(s3, settings["bucket"]) == []


def test_a_valid_update_lands_once_and_the_sensor_requests_its_day(
    s3: MotoS3, settings: dict, tmp_path
) -> None:
    before = dt.datetime.now(dt.UTC).date()
    answer = telegram_lambda.handler(http_api_event(json.dumps(UPDATE, ensure_ascii=False)), None)
    after = dt.datetime.now(dt.UTC).date()
    assert answer == {"statusCode": 200}

    (key,) = landed_keys(s3, settings["bucket"])
    day = dt.date.fromisoformat(key.split("/date=")[1].split("/")[0])
    assert before <= day <= after
    assert key.endswith(".jsonl")
    body = s3.client().get_object(Bucket=settings["bucket"], Key=key)["Body"].read()
    (line,) = body.decode().splitlines()
    record = json.loads(line)
    assert record["payload"] == UPDATE and record["via"] == "lambda"

    # The landing sensor, configured by the same settings, sees the object and asks for its day.
    with (
        DagsterInstance.ephemeral() as instance,
        build_sensor_context(
            instance=instance, resources={"telegram_landing": LandingZoneResource.from_settings()}
        ) as context,
    ):
        result = telegram_landing_sensor(context)
    requests = result.run_requests or []
    assert [r.partition_key for r in requests] == [day.isoformat()]
    assert json.loads(result.cursor)[day.isoformat()][0] == 1


def test_a_base64_body_is_decoded_and_the_size_limit_holds(s3: MotoS3, settings: dict) -> None:
    event = http_api_event(json.dumps(UPDATE).encode(), base64_body=True)
    assert telegram_lambda.handler(event, None) == {"statusCode": 200}

    big = json.dumps({"update_id": 1, "message": {"text": "x" * 5000}})
    assert telegram_lambda.handler(http_api_event(big), None)["statusCode"] == 413
    declared = http_api_event(json.dumps(UPDATE), **{"content-length": "999999"})
    assert telegram_lambda.handler(declared, None)["statusCode"] == 413
    assert telegram_lambda.handler(http_api_event("not json"), None)["statusCode"] == 400
    assert telegram_lambda.handler(http_api_event('{"update_id": "1"}'), None)["statusCode"] == 400
    assert len(landed_keys(s3, settings["bucket"])) == 1


def test_an_s3_failure_answers_503(
    s3: MotoS3, settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket is gone: the upload fails, Telegram gets 503 and will retry."""
    missing = f"gone-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SUPPORT_LAKE_URL", f"s3://{missing}/lake")
    telegram_lambda._receiver.cache_clear()
    answer = telegram_lambda.handler(http_api_event(json.dumps(UPDATE)), None)
    assert answer["statusCode"] == 503, answer
    assert missing not in {b["Name"] for b in s3.client().list_buckets()["Buckets"]}


def test_the_function_needs_the_secret_and_an_s3_lake(settings: dict) -> None:
    env = {k: v for k, v in settings.items() if k != "bucket"}
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        telegram_lambda.receiver_from_settings({**env, "TELEGRAM_WEBHOOK_SECRET": ""})
    with pytest.raises(ValueError, match="s3://"):
        telegram_lambda.receiver_from_settings({**env, "SUPPORT_LAKE_URL": "/tmp/lake"})
