"""Parent orders survive a gateway crash: the parent, its algorithm, its fills and its child ids come back from the
journal, and the schedule goes on from the clock without sending a ClOrdID twice or filling more than the parent."""

from __future__ import annotations

import errno
import os
from collections import Counter
from typing import Any

import pytest
import structlog
from journal_helpers import MS, JournaledWorld, SimulatedCrash, journal_config_data

from gateway.journal import read_records
from gateway.model import ErrorCode, RefusalError
from gateway.parents import ParentOrder, ParentStatus

SECOND = 1_000 * MS


def disk_full(fd: int, data: bytes) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def parent_world(journaled_world: Any, **options: Any) -> JournaledWorld:
    world = journaled_world(config_data=journal_config_data(session_s=3_600), **options)
    world.venue.open_market()
    world.advance_ns(5 * SECOND)
    return world


def submit(world: JournaledWorld, client_order_id: str = "T1", quantity: int = 2_000, symbol: str = "ACME",
           **params: Any) -> str:
    answer = world.gateway.commands.dispatch(world.principal("alice"), "submit_parent", {
        "account": "ALICE-1", "symbol": symbol, "side": "BUY", "quantity": quantity, "algo": "TWAP",
        "client_order_id": client_order_id, "params": {"duration_s": 120, "slices": 12, **params}})
    return answer["parent_id"]


def control(world: JournaledWorld, action: str, parent_id: str, **payload: Any) -> dict[str, Any]:
    return world.gateway.commands.dispatch(world.principal("alice"), f"parent_{action}",
                                           {"parent_id": parent_id, **payload})


def parent(world: JournaledWorld, parent_id: str) -> ParentOrder:
    found = world.gateway.extras["parents"].get(parent_id)
    assert found is not None, f"{parent_id} was not rebuilt"
    return found


def children(world: JournaledWorld, parent_id: str) -> list[Any]:
    return [order for order in world.engine.orders.by_id.values() if order.parent_id == parent_id]


def children_filled(world: JournaledWorld, parent_id: str) -> int:
    return sum(order.filled_quantity for order in children(world, parent_id))


def new_requests(world: JournaledWorld) -> Counter[str]:
    return Counter(client_order_id for kind, client_order_id in world.venue.received_requests() if kind == "new")


def assert_sent_once(world: JournaledWorld) -> None:
    requests = new_requests(world)
    assert requests and max(requests.values()) == 1, [c for c, n in requests.items() if n > 1]


def test_a_running_twap_resumes_after_a_crash_and_finishes_by_its_end_time(journaled_world) -> None:
    world = parent_world(journaled_world, snapshot_interval_ns=10 * SECOND)
    parent_id = submit(world)
    before = parent(world, parent_id)
    start_ns, end_ns = before.algorithm.common.start_ns, before.algorithm.common.end_ns
    world.advance_ns(20_200 * MS)
    filled_before, sequence_before = before.filled_quantity, before.algorithm.child_sequence
    assert 0 < filled_before < 2_000 and before.algorithm.children  # mid-schedule, the third slice resting

    world.crash()
    world.advance_ns(10 * SECOND)  # down: the venue trades on and fills the resting slice
    summary = world.restart()
    restarted_ns = world.clock.now_ns() - 20 * MS
    submitted = next(r for r in read_records(world.directory) if r.kind == "parent.submitted")
    assert summary.snapshot_sequence > submitted.sequence  # the parent came back through a snapshot

    recovered = parent(world, parent_id)
    algorithm = recovered.algorithm
    assert recovered is not before and recovered.is_working
    assert (recovered.client_order_id, recovered.account, recovered.quantity) == ("T1", "ALICE-1", 2_000)
    assert (algorithm.common.start_ns, algorithm.common.end_ns) == (start_ns, end_ns)  # "duration_s" not re-resolved
    assert recovered.filled_quantity == children_filled(world, parent_id) > filled_before  # the fill made while down
    assert summary.fills_recovered >= 1
    assert algorithm.child_sequence >= sequence_before
    assert set(algorithm.children) == {o.order_id for o in children(world, parent_id) if o.is_working}
    # re-planned at the restart: what is left over the time that is left
    assert algorithm.base_ns >= restarted_ns and filled_before <= algorithm.base_filled <= recovered.filled_quantity
    assert recovered.tca is not None and recovered.tca.filled_quantity == recovered.filled_quantity

    with pytest.raises(RefusalError) as duplicate:
        submit(world, "T1")
    assert duplicate.value.refusal.code is ErrorCode.RISK_DUPLICATE_CLIENT_ORDER_ID
    assert submit(world, "T2", quantity=300, symbol="BOLT", duration_s=20, slices=4) == "P2"  # the sequence went on

    world.advance_ns(end_ns - world.clock.now_ns() + 5 * SECOND)
    assert recovered.status is ParentStatus.FINISHED and recovered.finish_reason.value == "filled"
    assert recovered.ts_finished is not None and recovered.ts_finished <= end_ns
    assert recovered.filled_quantity == children_filled(world, parent_id) == 2_000  # all of it, never more
    after = [int(o.order_id.rsplit("E", 1)[1]) for o in children(world, parent_id) if o.ts_created > restarted_ns]
    assert after and min(after) > sequence_before  # new children only under new numbers
    assert_sent_once(world)


@pytest.mark.parametrize(("operations", "moment"), [(1, "before"), (1, "after"), (2, "after"), (4, "before"),
                                                    (6, "after"), (9, "before"), (13, "after")])
def test_a_crash_at_any_moment_of_a_twap_neither_resends_nor_overfills(journaled_world, operations: int,
                                                                        moment: str) -> None:
    world = parent_world(journaled_world)
    parent_id = submit(world, duration_s=40, slices=8)
    world.advance_ns(12 * SECOND)
    world.plan.arm(operations, moment)  # counts the gateway's journal writes and venue sends: the parent's, here
    with pytest.raises(SimulatedCrash):
        world.advance_ns(40 * SECOND)
    world.crash()
    world.advance_ns(500 * MS)
    world.restart()

    recovered = parent(world, parent_id)
    assert recovered.filled_quantity == children_filled(world, parent_id)
    assert set(recovered.algorithm.children) == {o.order_id for o in children(world, parent_id) if o.is_working}
    world.advance_ns(40 * SECOND)
    assert recovered.status is ParentStatus.FINISHED, recovered.status
    assert recovered.filled_quantity == children_filled(world, parent_id) == 2_000
    assert_sent_once(world)
    assert not any(order.is_working for order in children(world, parent_id))


def test_a_slice_resting_through_the_restart_is_adopted_and_not_sent_again(journaled_world) -> None:
    world = parent_world(journaled_world)
    parent_id = submit(world)
    world.advance_ns(20_200 * MS)
    resting = set(parent(world, parent_id).algorithm.children)
    assert len(resting) == 1
    world.crash()
    world.advance_ns(100 * MS)
    world.restart()
    recovered = parent(world, parent_id)
    assert set(recovered.algorithm.children) == resting  # still working at the venue: the algorithm's again
    (child_id,) = resting
    child = recovered.algorithm.children[child_id]
    order = world.engine.orders.by_id[child_id]
    assert (child.quantity, child.limit_price, child.filled, child.accepted) == (
        order.quantity, order.limit_price, order.filled_quantity, True)
    world.advance_ns(110 * SECOND)
    assert recovered.finish_reason is not None and recovered.finish_reason.value == "filled"
    assert recovered.filled_quantity == children_filled(world, parent_id) == 2_000  # counted once, never more
    assert_sent_once(world)


def test_resumed_parents_wait_for_reconciliation_and_start_without_it_only_after_the_fallback(
        journaled_world) -> None:
    world = parent_world(journaled_world)
    parent_id = submit(world)
    world.advance_ns(32 * SECOND)
    world.crash()
    world._start_gateway(reconcile=False)  # replayed, but nobody reconciles
    world.venue.connect()  # quotes and prints flow again
    sent = sum(new_requests(world).values())
    recovery = world.engine.recoverables["parent."]
    world.advance_ns(recovery.fallback_delay_ns - 1 * SECOND)
    recovered = parent(world, parent_id)
    assert recovered.status is ParentStatus.ACCEPTED and sum(new_requests(world).values()) == sent
    world.advance_ns(2 * SECOND)
    assert recovered.status is ParentStatus.WORKING and sum(new_requests(world).values()) > sent
    world.advance_ns(90 * SECOND)  # (unreconciled, what filled while down stays unknown: no promise of a full fill)
    assert recovered.status is ParentStatus.FINISHED
    assert recovered.filled_quantity == children_filled(world, parent_id) <= 2_000
    assert_sent_once(world)


def test_a_crash_right_around_a_submission_keeps_the_parent_only_if_it_was_journaled(journaled_world) -> None:
    world = parent_world(journaled_world)
    world.plan.arm(1, "before")  # dies before parent.submitted is written: the parent never existed
    with pytest.raises(SimulatedCrash, match="before journaling parent.submitted"):
        submit(world, "T1")
    world.crash()
    world.restart()
    assert world.gateway.extras["parents"].all_parents() == [] and not new_requests(world)

    world.plan.arm(1, "after")  # dies right after writing it, before any child: the parent exists and starts
    with pytest.raises(SimulatedCrash, match="after journaling parent.submitted"):
        submit(world, "T1")
    world.crash()
    world.restart()
    recovered = parent(world, "P1")
    assert recovered.client_order_id == "T1" and recovered.filled_quantity == 0
    world.advance_ns(125 * SECOND)
    assert recovered.finish_reason is not None and recovered.finish_reason.value == "filled"
    assert recovered.filled_quantity == children_filled(world, "P1") == 2_000
    assert_sent_once(world)


def test_a_paused_parent_is_still_paused_after_a_restart_and_resumes_on_command(journaled_world) -> None:
    world = parent_world(journaled_world)
    parent_id = submit(world)
    world.advance_ns(25 * SECOND)
    control(world, "pause", parent_id)
    world.advance_ns(1 * SECOND)
    world.crash()
    world.restart()
    recovered = parent(world, parent_id)
    assert recovered.status is ParentStatus.PAUSED
    sent = sum(new_requests(world).values())
    world.advance_ns(20 * SECOND)
    assert sum(new_requests(world).values()) == sent  # nothing sent while paused
    assert not any(order.is_working for order in children(world, parent_id))

    assert control(world, "resume", parent_id)["status"] == "WORKING"
    world.advance_ns(100 * SECOND)
    assert recovered.finish_reason is not None and recovered.finish_reason.value == "filled"
    assert recovered.filled_quantity == children_filled(world, parent_id) == 2_000
    assert_sent_once(world)


def test_canceled_and_finished_parents_stay_finished_and_a_stopping_one_finishes(journaled_world) -> None:
    world = parent_world(journaled_world)
    canceled = submit(world, "C1")
    filled = submit(world, "F1", quantity=300, symbol="BOLT", duration_s=10, slices=2)
    stopping = submit(world, "S1", symbol="DYNA", quantity=3_000)
    world.advance_ns(15 * SECOND)
    control(world, "cancel", canceled)
    world.advance_ns(1 * SECOND)
    assert parent(world, canceled).status is ParentStatus.FINISHED
    assert parent(world, filled).finish_reason is not None and parent(world, filled).finish_reason.value == "filled"
    world.plan.arm(1, "after")  # the cancel is journaled, then the gateway dies before any child is canceled
    with pytest.raises(SimulatedCrash, match="after journaling parent.canceled"):
        control(world, "cancel", stopping)
    world.crash()
    world.restart()
    sent = new_requests(world)

    for parent_id, reason in ((canceled, "canceled"), (filled, "filled")):
        recovered = parent(world, parent_id)
        assert recovered.status is ParentStatus.FINISHED and recovered.finish_reason.value == reason
        assert recovered.filled_quantity == children_filled(world, parent_id)
    world.advance_ns(30 * SECOND)
    recovered = parent(world, stopping)
    assert recovered.status is ParentStatus.FINISHED and recovered.finish_reason.value == "canceled"
    assert not any(order.is_working for p in (canceled, filled, stopping) for order in children(world, p))
    assert new_requests(world) == sent  # none of them sent anything after the restart
    with pytest.raises(RefusalError) as refused:
        control(world, "cancel", canceled)
    assert refused.value.refusal.code is ErrorCode.ORDER_NOT_CANCELABLE


@pytest.mark.parametrize(("end_behavior", "reason"), [("cancel", "end_time"), ("complete", "filled")])
def test_a_parent_whose_end_passed_while_down_follows_its_end_behaviour(journaled_world, end_behavior: str,
                                                                       reason: str) -> None:
    world = parent_world(journaled_world)
    parent_id = submit(world, duration_s=30, slices=6, end_behavior=end_behavior)
    world.advance_ns(15 * SECOND)
    world.crash()
    world.advance_ns(30 * SECOND)  # the end passes while the gateway is down
    world.restart()
    world.advance_ns(5 * SECOND)
    recovered = parent(world, parent_id)
    assert recovered.status is ParentStatus.FINISHED and recovered.finish_reason.value == reason
    assert recovered.filled_quantity == children_filled(world, parent_id)
    assert (recovered.filled_quantity == 2_000) is (reason == "filled")
    assert not any(order.is_working for order in children(world, parent_id))
    assert_sent_once(world)


def test_amendments_and_a_cash_quantity_come_back_as_they_were_decided(journaled_world) -> None:
    world = parent_world(journaled_world)
    answer = world.gateway.commands.dispatch(world.principal("alice"), "submit_parent", {
        "account": "ALICE-1", "symbol": "ACME", "side": "BUY", "cash_amount": 150_000, "algo": "TWAP",
        "client_order_id": "CASH1", "params": {"duration_s": 60, "slices": 6}})
    parent_id = answer["parent_id"]
    quantity = answer["quantity"]
    world.advance_ns(20 * SECOND)
    amended_quantity = quantity + 500
    new_end = parent(world, parent_id).algorithm.common.end_ns + 30 * SECOND
    control(world, "amend", parent_id, changes={"quantity": amended_quantity, "end_time": new_end})
    world.advance_ns(1 * SECOND)
    world.crash()
    world.advance_ns(2 * SECOND)  # the quote moves on: the cash is not converted again
    world.restart()

    recovered = parent(world, parent_id)
    assert recovered.cash_amount == 150_000 and recovered.quantity == amended_quantity
    assert recovered.algorithm.common.end_ns == new_end
    assert recovered.tca is not None and recovered.tca.quantity == amended_quantity
    world.advance_ns(new_end - world.clock.now_ns() + 2 * SECOND)
    assert recovered.finish_reason is not None and recovered.finish_reason.value == "filled"
    assert recovered.filled_quantity == children_filled(world, parent_id) == amended_quantity
    assert_sent_once(world)


def test_a_journal_that_cannot_write_refuses_parent_commands_and_changes_nothing(journaled_world) -> None:
    world = parent_world(journaled_world)
    working = submit(world, "W1")
    world.advance_ns(5 * SECOND)
    manager = world.gateway.extras["parents"]
    sent = new_requests(world)
    write = world.journal._write
    world.journal._write = disk_full

    with pytest.raises(RefusalError) as refused:
        submit(world, "T2", symbol="BOLT", quantity=300)
    assert refused.value.refusal.code is ErrorCode.JOURNAL_UNAVAILABLE
    assert [p.parent_id for p in manager.all_parents()] == [working] and manager.parent_sequence == 1
    for action, payload in (("pause", {}), ("amend", {"changes": {"quantity": 2_500}})):
        with pytest.raises(RefusalError) as refused:
            control(world, action, working, **payload)
        assert refused.value.refusal.code is ErrorCode.JOURNAL_UNAVAILABLE
    assert parent(world, working).status is ParentStatus.WORKING and parent(world, working).quantity == 2_000
    with structlog.testing.capture_logs() as logs:
        control(world, "cancel", working)  # a cancel only reduces risk: it acts, and says the journal missed it
    assert any(line["event"] == "journal_unavailable_acting_anyway" and line["kind"] == "parent.canceled"
               for line in logs)
    assert parent(world, working).status in (ParentStatus.STOPPING, ParentStatus.FINISHED)
    assert new_requests(world) == sent

    world.journal._write = write
    assert submit(world, "T2", symbol="BOLT", quantity=300, duration_s=20, slices=4) == "P2"
