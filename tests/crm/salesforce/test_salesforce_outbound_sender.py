"""The emulator's outbound-message sender: batches, the Ack rule, backoff capped at 2 h, drop at 24 h."""

from __future__ import annotations

import itertools
from datetime import timedelta

from integrations.sandbox.salesforce import ManualClock, NotificationState, OutboundMessageSender, RetryPolicy
from tests.crm.salesforce.conftest import RunningSalesforce, SoapEndpoint


def test_notifications_go_out_in_batches_of_a_hundred_and_are_acked(
    salesforce: RunningSalesforce, soap_endpoint: SoapEndpoint
) -> None:
    with OutboundMessageSender(salesforce.state, soap_endpoint.url) as sender:
        for _ in range(150):
            sender.record_changed(salesforce.event())
        assert sender.run_due() == 150

    assert [len(m.notifications) for m in soap_endpoint.messages] == [100, 50]
    assert sender.pending() == []


def test_a_refused_delivery_is_retried_with_growing_gaps_until_acked(
    salesforce: RunningSalesforce, soap_endpoint: SoapEndpoint, clock: ManualClock
) -> None:
    soap_endpoint.fail_next = 9
    with OutboundMessageSender(salesforce.state, soap_endpoint.url) as sender:
        queued = sender.record_changed(salesforce.event())
        started = clock()
        attempts_at = []
        while sender.pending():
            attempts_at.append(clock() - started)
            sender.run_due()
            if sender.pending():
                clock.set(sender.pending()[0].next_attempt_at)

    assert queued.state is NotificationState.ACKED
    assert queued.statuses == [503] * 9 + [200]
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts_at)]
    minutes = [int(g.total_seconds() // 60) for g in gaps]
    assert minutes == [1, 2, 4, 8, 16, 32, 64, 120, 120]
    assert len({m.notifications[0].id for m in soap_endpoint.messages}) == 1


def test_a_notification_not_acked_within_24_hours_is_dropped(
    salesforce: RunningSalesforce, soap_endpoint: SoapEndpoint, clock: ManualClock
) -> None:
    soap_endpoint.fail_next = 10_000
    with OutboundMessageSender(salesforce.state, soap_endpoint.url) as sender:
        queued = sender.record_changed(salesforce.event())
        sender.run_until_settled(clock)

    assert queued.state is NotificationState.DROPPED
    assert clock() - queued.queued_at > timedelta(hours=24)
    assert soap_endpoint.messages == []
    assert 15 <= len(queued.statuses) <= 25


def test_the_latest_record_values_are_sent_on_a_retry(
    salesforce: RunningSalesforce, soap_endpoint: SoapEndpoint, clock: ManualClock
) -> None:
    soap_endpoint.fail_next = 1
    record_id = salesforce.event()
    with OutboundMessageSender(salesforce.state, soap_endpoint.url, retry=RetryPolicy()) as sender:
        sender.record_changed(record_id)
        sender.run_due()
        salesforce.state.update_record("Event", record_id, {"Subject": "Renamed"})
        sender.run_until_settled(clock)

    [message] = soap_endpoint.messages
    assert message.notifications[0].fields["Subject"] == "Renamed"


def test_duplicates_can_be_injected(salesforce: RunningSalesforce, soap_endpoint: SoapEndpoint) -> None:
    with OutboundMessageSender(salesforce.state, soap_endpoint.url, duplicate=True) as sender:
        sender.record_changed(salesforce.event())
        sender.run_due()
    first, second = soap_endpoint.messages
    assert first.notifications == second.notifications


def test_no_answer_is_not_an_ack(salesforce: RunningSalesforce, clock: ManualClock) -> None:
    with OutboundMessageSender(salesforce.state, "http://127.0.0.1:9/closed", answer_timeout=0.5) as sender:
        queued = sender.record_changed(salesforce.event())
        sender.run_due()
    assert queued.statuses == [None]
    assert queued.state is NotificationState.QUEUED
