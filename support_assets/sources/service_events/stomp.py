"""ActiveMQ over STOMP (stomp.py): a durable topic subscription read in acknowledged batches.

The service events arrive on a topic. A topic keeps messages only for subscriptions that exist,
so the platform holds a *durable* subscription: ``client-id`` on CONNECT plus
``activemq.subscriptionName`` on SUBSCRIBE name it, and the broker keeps every message published
after it was first created until the platform acknowledges it, across disconnects and broker
restarts (the producer must publish with ``persistent:true`` for the latter).

Reading is at least once:

* ``ack: client``, and ``activemq.prefetchSize`` = ``prefetch_size``: the broker stops
  dispatching once that many messages are unacknowledged, so a batch is at most
  ``prefetch_size`` messages, and a large prefetch keeps the batch flowing without a round trip
  per message (≈ 8.5 k msg/s here at 1000, 3.5 k at 1);
* ``client`` acknowledgements are cumulative (STOMP 1.2; ActiveMQ's ``StompSubscription``
  acknowledges every message dispatched on the subscription up to and including the one named,
  in dispatch order): :meth:`ServiceConsumer.ack` sends one ACK frame, for the last message of
  the batch, with a receipt. Messages dispatched after it (the next batch) stay unacknowledged;
* :meth:`StompResource.consumer` hands out batches; the caller acknowledges a batch only after
  its write succeeded. ``ack(batch, wait=False)`` returns once the frame is sent, so the next
  batch is read and written while the broker processes it; the receipt is awaited before the
  next ACK and by :meth:`ServiceConsumer.wait_for_acks` (the caller's last step);
* anything not acknowledged when the connection closes (a failed write, a killed process) goes
  back to the subscription and is delivered again. The consumer never NACKs (ActiveMQ sends a
  NACKed message straight to ``ActiveMQ.DLQ``) and never UNSUBSCRIBEs (that would delete the
  durable subscription and every message it holds).

:meth:`StompResource.pending` answers whether messages wait for the subscription: ActiveMQ's
statistics count a topic's messages over all its subscribers (and its ``size`` is always 0 for
topics), so it subscribes as the platform for a moment, counts what is dispatched and leaves
without acknowledging; the messages stay where they were.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import stomp
from dagster import ConfigurableResource
from pydantic import Field
from stomp.exception import ConnectFailedException, NotConnectedException, StompException

logger = logging.getLogger(__name__)

SUBSCRIPTION_ID = "support-assets"


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached, refused us, or the connection was lost."""


class ClientIdBusy(BrokerUnavailable):
    """Another connection holds the durable subscription's client id (a consumer is running)."""


@dataclass(frozen=True)
class ReceivedMessage:
    """One MESSAGE frame: its body as bytes, its headers, and what acknowledging it needs."""

    body: bytes
    headers: Mapping[str, str]

    @property
    def message_id(self) -> str:
        return self.headers.get("message-id", "")

    @property
    def ack_id(self) -> str:
        return self.headers["ack"]

    @property
    def destination(self) -> str:
        return self.headers.get("destination", "")

    @property
    def redelivered(self) -> bool:
        return self.headers.get("redelivered") == "true"

    @property
    def published_at(self) -> dt.datetime | None:
        """The broker's ``timestamp`` header (milliseconds since the epoch) as UTC."""
        try:
            return dt.datetime.fromtimestamp(int(self.headers["timestamp"]) / 1000, dt.UTC)
        except (KeyError, ValueError, OverflowError, OSError):
            return None


@dataclass
class _Listener(stomp.ConnectionListener):
    """Collects what the broker sends, for the thread that reads batches."""

    messages: queue.Queue[ReceivedMessage] = field(default_factory=queue.Queue)
    errors: list[str] = field(default_factory=list)
    receipts: dict[str, threading.Event] = field(default_factory=dict)
    disconnected: threading.Event = field(default_factory=threading.Event)

    def expect_receipt(self, receipt: str) -> threading.Event:
        event = self.receipts[receipt] = threading.Event()
        return event

    def on_message(self, frame: Any) -> None:
        body = frame.body if isinstance(frame.body, bytes) else str(frame.body or "").encode()
        self.messages.put(ReceivedMessage(body=body, headers=dict(frame.headers)))

    def on_receipt(self, frame: Any) -> None:
        event = self.receipts.get(frame.headers.get("receipt-id", ""))
        if event is not None:
            event.set()

    def on_error(self, frame: Any) -> None:
        message = frame.headers.get("message") or ""
        if not message:
            body = frame.body.decode(errors="replace") if isinstance(frame.body, bytes) else ""
            message = body.strip().splitlines()[0] if body.strip() else "ERROR frame"
        self.errors.append(message)

    def on_disconnected(self) -> None:
        self.disconnected.set()


class StompResource(ConfigurableResource):
    """An ActiveMQ broker over STOMP 1.2 and the platform's durable subscription to a topic."""

    host: str = Field(default="127.0.0.1", description="Broker host (STOMP_HOST).")
    port: int = Field(default=61613, description="Broker STOMP port (STOMP_PORT).")
    user: str | None = Field(default=None, description="STOMP login (STOMP_USER); None: none.")
    password: str | None = Field(
        default=None,
        description="STOMP passcode (STOMP_PASSWORD; a secret: pass EnvVar('STOMP_PASSWORD')).",
    )
    destination: str = Field(
        default="/topic/support.service_events",
        description="Topic the attendance system publishes to (STOMP_DESTINATION).",
    )
    client_id: str = Field(
        default="support-assets",
        description="client-id sent on CONNECT: with subscription_name, names the durable "
        "subscription (STOMP_CLIENT_ID).",
    )
    subscription_name: str = Field(
        default="support-assets.service_events",
        description="activemq.subscriptionName of the durable subscription "
        "(STOMP_SUBSCRIPTION_NAME).",
    )
    prefetch_size: int = Field(
        default=1000,
        ge=1,
        description="activemq.prefetchSize: messages dispatched ahead of acknowledgement, and "
        "so the largest batch (STOMP_PREFETCH).",
    )
    heartbeat_ms: int = Field(
        default=10_000,
        ge=0,
        description="STOMP heart-beat both ways, so a dead consumer's connection (and its "
        "client id) is released by the broker; 0 turns it off.",
    )
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    client_id_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long to wait for the client id while another connection holds it "
        "(a consumer that just left, or the sensor's look at the subscription).",
    )
    receipt_timeout_seconds: float = Field(default=30.0, gt=0)
    fail_if_unreachable: bool = Field(
        default=True,
        description="False only for the local default broker (STOMP_HOST unset): with no broker "
        "there, a run consumes nothing and says so instead of failing.",
    )

    def describe(self) -> str:
        """Where the subscription is, without credentials (safe for logs and metadata)."""
        return f"stomp://{self.host}:{self.port}{self.destination}"

    @property
    def subscription(self) -> str:
        return f"{self.client_id}/{self.subscription_name}"

    # ---- connections -----------------------------------------------------------------------

    def _connect(self, client_id: str | None) -> tuple[stomp.Connection12, _Listener]:
        """A connected STOMP 1.2 connection; with ``client_id``, retried while it is busy."""
        deadline = time.monotonic() + (self.client_id_wait_seconds if client_id else 0)
        while True:
            try:
                return self._connect_once(client_id)
            except ClientIdBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def _connect_once(self, client_id: str | None) -> tuple[stomp.Connection12, _Listener]:
        conn = stomp.Connection12(
            [(self.host, self.port)],
            heartbeats=(self.heartbeat_ms, self.heartbeat_ms),
            auto_decode=False,
            timeout=self.connect_timeout_seconds,
            reconnect_attempts_max=2,
            reconnect_sleep_initial=0.2,
            reconnect_sleep_max=1.0,
        )
        listener = _Listener()
        conn.set_listener("support_assets", listener)
        headers = {"client-id": client_id} if client_id else {}
        try:
            conn.connect(self.user or None, self.password or None, wait=True, headers=headers)
        except (ConnectFailedException, NotConnectedException, StompException, OSError) as exc:
            # The broker's ERROR frame (e.g. "already connected") reaches the listener on its
            # own thread, sometimes just after stomp.py gave up on the socket: wait a moment
            # for it, or a busy client id would read as an unreachable broker.
            deadline = time.monotonic() + 1.0
            while not listener.errors and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(Exception):
                conn.disconnect()
            reason = "; ".join(listener.errors) or f"{type(exc).__name__}: {exc}".rstrip(": ")
            if "already connected" in reason:
                raise ClientIdBusy(
                    f"client id {client_id!r} is in use on {self.host}:{self.port} "
                    f"(another consumer of {self.subscription} is connected): {reason}"
                ) from exc
            raise BrokerUnavailable(
                f"cannot connect to the STOMP broker at {self.host}:{self.port}: {reason}"
            ) from exc
        return conn, listener

    def _close(self, conn: stomp.Connection12, listener: _Listener) -> None:
        """DISCONNECT (never UNSUBSCRIBE: that would delete the durable subscription)."""
        try:
            if conn.is_connected():
                conn.disconnect()
                listener.disconnected.wait(timeout=5)
        except (StompException, OSError):
            logger.debug("disconnect failed", exc_info=True)

    def _subscribe(self, conn: stomp.Connection12, listener: _Listener, prefetch: int) -> None:
        receipt = f"subscribe-{time.monotonic_ns()}"
        done = listener.expect_receipt(receipt)
        conn.subscribe(
            self.destination,
            id=SUBSCRIPTION_ID,
            ack="client",
            headers={
                "activemq.subscriptionName": self.subscription_name,
                "activemq.prefetchSize": str(prefetch),
                "receipt": receipt,
            },
        )
        self._await(listener, done, "SUBSCRIBE")

    def _await(self, listener: _Listener, done: threading.Event, what: str) -> None:
        deadline = time.monotonic() + self.receipt_timeout_seconds
        while not done.wait(timeout=0.1):
            if listener.errors:
                raise BrokerUnavailable(f"the broker refused {what}: {'; '.join(listener.errors)}")
            if listener.disconnected.is_set():
                raise BrokerUnavailable(f"connection lost while waiting for the {what} receipt")
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"no receipt for {what} after {self.receipt_timeout_seconds:.0f}s"
                )

    # ---- the platform's subscription --------------------------------------------------------

    @contextlib.contextmanager
    def consumer(self) -> Iterator[ServiceConsumer]:
        """The durable subscription, open for batches; unacknowledged messages go back on exit."""
        conn, listener = self._connect(self.client_id)
        try:
            self._subscribe(conn, listener, self.prefetch_size)
            yield ServiceConsumer(self, conn, listener)
        finally:
            self._close(conn, listener)

    def ensure_subscription(self) -> bool:
        """Creates the durable subscription if it does not exist yet (a topic keeps messages only
        for subscriptions that exist). Returns False when a consumer holds it right now (so it
        exists). Prefetch 0: nothing is dispatched to this short connection."""
        try:
            conn, listener = self._connect(self.client_id)
        except ClientIdBusy:
            return False
        try:
            self._subscribe(conn, listener, 0)
        finally:
            self._close(conn, listener)
        return True

    def pending(self, wait_seconds: float = 2.0, limit: int = 100) -> int:
        """How many messages wait for the subscription, counted up to ``limit``.

        Subscribes as the platform with a prefetch of ``limit``, waits up to ``wait_seconds`` for
        a first message, counts what arrives and disconnects without acknowledging, so the
        messages stay. Creates the subscription when it does not exist. Raises ``ClientIdBusy``
        at once when a consumer is connected (no wait: the caller is asking, not consuming).
        """
        conn, listener = self._connect_once(self.client_id)
        try:
            self._subscribe(conn, listener, limit)
            count = 0
            timeout = wait_seconds
            while count < limit:
                try:
                    listener.messages.get(timeout=timeout)
                except queue.Empty:
                    break
                count += 1
                timeout = 0.2  # the rest of a prefetch arrives in a burst
            return count
        finally:
            self._close(conn, listener)

    # ---- publishing (the producer of demos and tests) ----------------------------------------

    def publish(
        self,
        bodies: Iterable[str | bytes],
        headers: Mapping[str, str] | None = None,
        destination: str | None = None,
    ) -> int:
        """Publishes each body as a persistent message; returns when the broker has them all
        (the last SEND asks for a receipt, and frames are processed in order)."""
        conn, listener = self._connect(None)
        sent = 0
        try:
            pending_body: str | bytes | None = None
            for body in bodies:
                if pending_body is not None:
                    self._send(conn, pending_body, headers, destination)
                    sent += 1
                pending_body = body
            if pending_body is not None:
                receipt = f"publish-{time.monotonic_ns()}"
                done = listener.expect_receipt(receipt)
                self._send(conn, pending_body, headers, destination, receipt=receipt)
                self._await(listener, done, "SEND")
                sent += 1
            if listener.errors:
                raise BrokerUnavailable(f"the broker refused SEND: {'; '.join(listener.errors)}")
            return sent
        finally:
            self._close(conn, listener)

    def _send(
        self,
        conn: stomp.Connection12,
        body: str | bytes,
        headers: Mapping[str, str] | None,
        destination: str | None,
        receipt: str | None = None,
    ) -> None:
        frame_headers = {"persistent": "true", **(headers or {})}
        if receipt:
            frame_headers["receipt"] = receipt
        conn.send(
            destination or self.destination,
            body.encode() if isinstance(body, str) else body,
            content_type="application/json;charset=utf-8",
            headers=frame_headers,
        )


class ServiceConsumer:
    """An open durable subscription: read a batch, write it, then :meth:`ack` it."""

    def __init__(self, resource: StompResource, conn: stomp.Connection12, listener: _Listener):
        self._resource = resource
        self._conn = conn
        self._listener = listener
        self.received = 0
        #: Messages whose acknowledgement the broker confirmed.
        self.acknowledged = 0
        self._pending_ack: tuple[threading.Event, int] | None = None

    def _check(self) -> None:
        if self._listener.errors:
            raise BrokerUnavailable(f"the broker sent an error: {'; '.join(self._listener.errors)}")
        if self._listener.disconnected.is_set() or not self._conn.is_connected():
            raise BrokerUnavailable(
                "the connection to the broker was lost; unacknowledged messages will be "
                "delivered again"
            )

    def receive_batch(
        self,
        max_messages: int | None = None,
        first_wait_seconds: float = 5.0,
        idle_seconds: float = 2.0,
        max_seconds: float = 60.0,
    ) -> list[ReceivedMessage]:
        """Messages as they arrive, until ``max_messages`` (at most the prefetch), ``idle_seconds``
        without one (``first_wait_seconds`` for the first), or ``max_seconds`` in all."""
        limit = min(max_messages or self._resource.prefetch_size, self._resource.prefetch_size)
        batch: list[ReceivedMessage] = []
        deadline = time.monotonic() + max_seconds
        while len(batch) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = first_wait_seconds if not batch else idle_seconds
            try:
                message = self._listener.messages.get(timeout=min(wait, remaining))
            except queue.Empty:
                self._check()
                break
            batch.append(message)
        self._check()
        self.received += len(batch)
        return batch

    def ack(self, messages: list[ReceivedMessage], wait: bool = True) -> None:
        """Acknowledge ``messages`` and every message received before them: one cumulative ACK
        (``client`` mode) for the last one, with a receipt. Call it after the write succeeded.

        ``wait=True`` returns once the broker confirmed it; ``wait=False`` once the frame is
        sent (the receipt is awaited by the next ``ack`` or by :meth:`wait_for_acks`)."""
        if not messages:
            return
        self.wait_for_acks()
        receipt = f"ack-{time.monotonic_ns()}"
        done = self._listener.expect_receipt(receipt)
        try:
            self._conn.ack(messages[-1].ack_id, receipt=receipt)
        except (StompException, OSError) as exc:
            raise BrokerUnavailable(f"acknowledging failed: {exc}") from exc
        self._pending_ack = (done, len(messages))
        if wait:
            self.wait_for_acks()

    def wait_for_acks(self) -> None:
        """Returns once the broker confirmed every ACK sent (raises if the connection failed)."""
        self._check()
        if self._pending_ack is None:
            return
        done, count = self._pending_ack
        self._resource._await(self._listener, done, "ACK")
        self._pending_ack = None
        self.acknowledged += count
