"""StompResource against a real ActiveMQ (session fixture ``activemq``): what the broker does with
the platform's durable subscription, prefetch, acknowledgements and client id."""

from __future__ import annotations

import uuid

import pytest

from support_assets.sources.service_events.stomp import (
    BrokerUnavailable,
    ClientIdBusy,
    StompResource,
)
from support_assets_tests.support.activemq_broker import ActiveMQBroker


@pytest.fixture
def stomp(activemq: ActiveMQBroker) -> StompResource:
    name = uuid.uuid4().hex[:10]
    return StompResource(
        host=activemq.host,
        port=activemq.stomp_port,
        destination=f"/topic/test.stomp.{name}",
        client_id=f"test-client-{name}",
        subscription_name=f"test-subscription-{name}",
        prefetch_size=10,
        client_id_wait_seconds=10,
    )


def bodies(n: int, tag: str = "m") -> list[str]:
    return [f'{{"{tag}": {i}}}' for i in range(n)]


def test_a_topic_keeps_messages_only_for_a_subscription_that_exists(stomp: StompResource) -> None:
    stomp.publish(bodies(5, "before"))  # nobody subscribed yet: the topic drops these
    assert stomp.ensure_subscription()
    stomp.publish(bodies(3, "after"))
    with stomp.consumer() as consumer:
        batch = consumer.receive_batch(first_wait_seconds=5, idle_seconds=1)
        assert [m.body.decode() for m in batch] == bodies(3, "after")
        assert all(m.headers["persistent"] == "true" for m in batch)
        consumer.ack(batch)


def test_a_batch_stops_at_the_prefetch_and_what_is_not_acknowledged_comes_back(
    stomp: StompResource,
) -> None:
    stomp.ensure_subscription()
    stomp.publish(bodies(25))
    with stomp.consumer() as consumer:
        first = consumer.receive_batch(max_messages=100, first_wait_seconds=5, idle_seconds=1)
    assert len(first) == 10  # the prefetch, whatever was asked
    with stomp.consumer() as consumer:  # the first batch was never acknowledged
        again = consumer.receive_batch(first_wait_seconds=5, idle_seconds=1)
        assert [m.message_id for m in again] == [m.message_id for m in first]
        assert [m.body for m in again] == [m.body for m in first]
        consumer.ack(again)
        rest = consumer.receive_batch(first_wait_seconds=5, idle_seconds=1)
        consumer.ack(rest)
        last = consumer.receive_batch(first_wait_seconds=5, idle_seconds=1)
        consumer.ack(last)
        assert consumer.acknowledged == 25
    assert [len(rest), len(last)] == [10, 5]
    assert stomp.pending(wait_seconds=1) == 0


def test_one_ack_covers_its_batch_and_nothing_dispatched_after_it(stomp: StompResource) -> None:
    """``client`` acknowledgements are cumulative up to the message named, never past it: the
    broker forgets an acknowledged batch, and redelivers the messages dispatched after it (a
    next batch already prefetched, or one read and never acknowledged) whole, in order."""
    stomp.ensure_subscription()
    stomp.publish(bodies(25))
    with stomp.consumer() as consumer:
        first = consumer.receive_batch(max_messages=4, first_wait_seconds=5, idle_seconds=1)
        consumer.ack(first, wait=False)  # one frame; the broker has 10 dispatched (prefetch)
        second = consumer.receive_batch(max_messages=4, first_wait_seconds=5, idle_seconds=1)
        consumer.wait_for_acks()
        assert consumer.acknowledged == 4
    # A consumer dying here, after the first ACK and before the second: the second batch and
    # the rest of the prefetch come back, the first does not.
    assert [m.body.decode() for m in first] == bodies(25)[:4]
    assert [m.body.decode() for m in second] == bodies(25)[4:8]
    with stomp.consumer() as consumer:
        again = consumer.receive_batch(max_messages=4, first_wait_seconds=5, idle_seconds=1)
        assert [m.message_id for m in again] == [m.message_id for m in second]
        consumer.ack(again)
        rest = []
        while batch := consumer.receive_batch(first_wait_seconds=2, idle_seconds=1):
            rest += batch
            consumer.ack(batch)
        assert consumer.acknowledged == 21
    assert [m.body.decode() for m in rest] == bodies(25)[8:]
    assert stomp.pending(wait_seconds=1) == 0


def test_pending_counts_without_consuming(stomp: StompResource) -> None:
    assert stomp.pending(wait_seconds=1) == 0  # and it created the subscription
    stomp.publish(bodies(7))
    assert stomp.pending(wait_seconds=5) == 7
    assert stomp.pending(wait_seconds=5, limit=4) == 4
    with stomp.consumer() as consumer:
        batch = consumer.receive_batch(first_wait_seconds=5, idle_seconds=1)
        assert len(batch) == 7
        consumer.ack(batch)
    assert stomp.pending(wait_seconds=1) == 0


def test_the_client_id_is_held_by_one_connection_at_a_time(stomp: StompResource) -> None:
    stomp.ensure_subscription()
    with stomp.consumer():
        with pytest.raises(ClientIdBusy, match=stomp.client_id):
            stomp.pending()
        assert stomp.ensure_subscription() is False  # held: it exists
        impatient = stomp.model_copy(update={"client_id_wait_seconds": 0})
        with pytest.raises(ClientIdBusy, match="already connected"):
            with impatient.consumer():
                pass
    with stomp.consumer():  # released on exit
        pass


def test_an_unreachable_broker_is_named(activemq: ActiveMQBroker) -> None:
    closed = StompResource(host="127.0.0.1", port=1, client_id="c", subscription_name="s")
    with pytest.raises(BrokerUnavailable, match="127.0.0.1:1"):
        closed.pending()
    with pytest.raises(BrokerUnavailable, match="127.0.0.1:1"):
        closed.publish(["{}"])
    assert closed.describe() == "stomp://127.0.0.1:1/topic/support.service_events"
