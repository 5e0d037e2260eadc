"""Use case: settle pending charges and refunds from the bank's own record of them.

Whoever settles an item - the request itself, a resumed retry, ``GET /charge/{id}``, the
reconcile sweep - goes through here, so one rule (``domain.lifecycle``) decides every final
state:

* only a definitive bank answer decides; "not sent" decides only the request's own send;
* the request's own send is unknown (5xx, reset, garbage, timeout): the request reverses
  the reference at once, within its bank deadline, and fails the item only when the bank
  accepted the reversal; otherwise it answers 202 with the item pending;
* the bank has no record: fail the item only once its request can no longer reach the bank
  (``settle_after`` since ``bank_requested_at``, or its owner is known to be gone) **and**
  after the bank accepted a reversal of the reference, which makes it refuse that reference
  for good - so a late approval can never leave money moved under a ``failed`` item;
* a status query or a reversal that fails (unknown, not sent) leaves the item pending.

Whoever reverses marks the item first (conditionally, while pending); no success is
committed over the mark, and whoever finds it finishes the reversal and records what the
bank says. Every final write is conditional on ``pending``; the loser of a race answers
what the winner recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.adapters.bank_client import BankOutcome
from chalicelib.adapters.charge_repository import PENDING_SHARDS
from chalicelib.adapters.dynamo import Contention, WriteConflict, WriteEntry
from chalicelib.domain.charges import Charge, ObjectRef, Pending, Refund
from chalicelib.domain.events import CHARGE_PENDING, REFUND_PENDING, final_event_type
from chalicelib.domain.lifecycle import (
    AUTHORIZE,
    AUTHORIZED,
    CAPTURE,
    PENDING,
    REVERSAL,
    SEND,
    STATUS,
    VOID,
    Decision,
    Operation,
    decide,
    must_reverse,
    reverses_at_once,
)
from chalicelib.ids import iso, now_utc, parse_iso
from chalicelib.resources import (
    charge_reply,
    charge_resource,
    refund_reply,
    refund_resource,
    reply_for,
)
from chalicelib.services.recording import Record, Reply, SettlerRecord

if TYPE_CHECKING:  # stubs and Protocols, for the type checker only
    from mypy_boto3_dynamodb import DynamoDBClient

    from chalicelib.ports import Bank, ChargeRepository, EventOutbox

log = logging.getLogger("platform.settlement")

# A settler that finds a pending item asked about within this long does not ask again: reads
# in a loop and overlapping sweeps cannot turn into a polling storm against the bank.
RECHECK_SECONDS = 2.0


def call_bank_before(deadline: float, call: Callable[[], BankOutcome]) -> BankOutcome:
    """Make a bank call only while it still ends within the function's timeout.

    Past ``deadline`` (monotonic) a settler may already treat this request as gone, so the
    call is not made: ``not_sent``, which the bank certainly did not act on.
    """
    if time.monotonic() > deadline:
        log.warning('{"event": "bank_call_skipped", "reason": "past the call deadline"}')
        return BankOutcome("not_sent")
    return call()


def _operation(item: Pending) -> Operation:
    """What a pending item waits for the bank about (a refund: its own send)."""
    return item.operation if isinstance(item, Charge) else AUTHORIZE


@dataclass
class SweepReport:
    examined: int = 0
    settled: int = 0
    still_pending: int = 0
    oldest_pending_age_seconds: float = 0.0
    # Pending items a settler (a read, another sweep) asked the bank about very recently.
    skipped: int = 0


class SettlementService:
    """Writes ahead of every bank operation; finalizes pending items, recording each bank
    answer exactly once."""

    def __init__(
        self,
        charges: ChargeRepository,
        bank: Bank,
        settle_after_seconds: float,
        client: DynamoDBClient,
        item_seconds: float,
        events: EventOutbox,
    ) -> None:
        self._charges = charges
        # The outbox: each final state is committed with its event, in one transaction.
        self._events = events
        self._bank = bank
        self._settle_after = timedelta(seconds=settle_after_seconds)
        self._settler = SettlerRecord(client)
        # The longest one item can take (two bank calls and a commit): the sweep starts an
        # item only while this much of its function's time remains.
        self._item_seconds = item_seconds

    def _unreachable(self, item: Pending) -> bool:
        """True once the request that wrote ``item`` can no longer reach the bank."""
        return now_utc() - parse_iso(item.bank_requested_at) >= self._settle_after

    def _bank_calls(
        self, item: Pending
    ) -> tuple[Callable[[], BankOutcome], Callable[[], BankOutcome]]:
        """The status query and the reversal that settle ``item``, by what it waits for.

        A capture is asked about by its own record at the bank; its reversal (as a void's)
        is the authorization's: the bank then refuses the reference, the capture included.
        """
        ref = item.id
        if isinstance(item, Refund):
            return (lambda: self._bank.refund_status(ref)), (lambda: self._bank.reverse_refund(ref))
        if item.operation == CAPTURE:
            status = lambda: self._bank.capture_status(ref)  # noqa: E731
        else:
            status = lambda: self._bank.authorization_status(ref)  # noqa: E731
        return status, (lambda: self._bank.reverse_authorization(ref))

    # ---- the write-ahead of every money operation ---------------------------------------

    def write_ahead(
        self, pending: Pending, record: Record, effects: Sequence[WriteEntry] = ()
    ) -> None:
        """Commit, in one transaction, the use case's ``effects`` (a token consumed, an
        amount reserved), ``pending`` (a new charge or refund; a charge whose hold a capture
        or void begins) and the request's recovery point (``record``): what every money
        operation writes before its bank call.

        ``WriteConflict`` (or ``Contention``): a condition of the use case's own writes
        refused them, and nothing was written; the use case judges again on what it reads
        now. ``KeyClaimedElsewhere``: only the request's binding was refused.
        """
        if isinstance(pending, Charge) and pending.operation != AUTHORIZE:
            write = self._charges.begin_operation_entry(pending)
        else:
            write = self._charges.put_pending(pending)
        record.write_ahead([*effects, write], pending.ref)

    def send(
        self, pending: Pending, call: Callable[[], BankOutcome], record: Record, deadline: float
    ) -> Reply:
        """After the write-ahead: the one bank operation (with the item's id as the
        reference, while ``deadline`` allows), then ``conclude`` records what it answered.

        Nothing raised from here may make the use case try its operation again: the bank
        may have acted.
        """
        return self.conclude(pending, call_bank_before(deadline, call), record, deadline)

    def start_operation(
        self, charge: Charge, operation: Operation, amount: int, record: Record, deadline: float
    ) -> Reply:
        """Capture or void an authorized charge's hold (``WriteConflict`` from the
        write-ahead: the charge was no longer authorized, or its window was over)."""
        pending = charge.begin(operation, amount, iso(now_utc()))
        self.write_ahead(pending, record)
        ref = charge.id
        if operation == CAPTURE:
            return self.send(pending, lambda: self._bank.capture(ref, amount), record, deadline)
        return self.send(pending, lambda: self._bank.reverse_authorization(ref), record, deadline)

    # ---- settling ------------------------------------------------------------------------

    def settle(
        self,
        item: Pending,
        record: Record | None = None,
        owner_gone: bool = False,
        deadline: float | None = None,
    ) -> Reply | None:
        """Settle a pending charge or refund from the bank's record of it; its reply, or
        None while it stays pending. ``deadline`` (monotonic): no bank call after it."""
        record = record or self._settler
        status, _ = self._bank_calls(item)
        outcome = self._call(deadline, status)
        reversing = item.reversing_at is not None
        decision = decide(
            outcome.kind,
            STATUS,
            reversing=reversing,
            authorization_code=outcome.authorization_code,
            decline_code=outcome.decline_code,
        )
        if decision is not None:
            return self.record(item, decision, record, deadline)
        unreachable = owner_gone or self._unreachable(item)
        if must_reverse(outcome.kind, STATUS, reversing=reversing, unreachable=unreachable):
            return self._reverse(item, record, deadline)
        return None

    @staticmethod
    def _call(deadline: float | None, call: Callable[[], BankOutcome]) -> BankOutcome:
        return call() if deadline is None else call_bank_before(deadline, call)

    def _reverse(self, item: Pending, record: Record, deadline: float | None) -> Reply | None:
        """Mark the item, then reverse its reference: failed once the bank accepted."""
        if not self._charges.mark_reversing(item, iso(now_utc())):
            return self._recorded(item, record)  # someone else finalized it first
        _, reverse = self._bank_calls(item)
        outcome = self._call(deadline, reverse)
        decision = decide(outcome.kind, REVERSAL)
        if decision is None:
            return None
        return self.record(replace(item, reversing_at="marked"), decision, record, deadline)

    def conclude(
        self, item: Pending, outcome: BankOutcome, record: Record, deadline: float
    ) -> Reply:
        """Record a request's own bank answer: the final state, or 202 while pending.

        An unknown answer is reversed at once, while ``deadline`` (monotonic) allows, except
        a capture's (``lifecycle.reverses_at_once``). A void's send is the reversal itself.
        """
        operation = _operation(item)
        decision = decide(
            outcome.kind,
            REVERSAL if operation == VOID else SEND,
            authorization_code=outcome.authorization_code,
            decline_code=outcome.decline_code,
        )
        if operation == CAPTURE and outcome.kind == "not_sent":
            # The bank never saw the capture: the hold is as it was, the charge authorized.
            decision = Decision(AUTHORIZED)
        reply: Reply | None = None
        if decision is not None:
            reply = self.record(item, decision, record, deadline)
        elif (
            must_reverse(outcome.kind, SEND, reversing=False, unreachable=False)
            and reverses_at_once(operation)
            and time.monotonic() < deadline
        ):
            reply = self._reverse(item, record, deadline)
        return reply if reply is not None else self.conclude_pending(item, record)

    def resume(self, ref: ObjectRef, record: Record) -> Reply:
        """Finish a request whose first attempt died after writing ahead (its lease is over).

        Never a second bank operation: the bank is asked what it did with the reference.
        """
        item = self._read(ref)
        if item.status == PENDING:
            reply = self.settle(item, record, owner_gone=True)
            return reply if reply is not None else self.conclude_pending(item, record)
        # Not pending when read: a final status never goes back, so the answer is recorded.
        recorded = self._recorded(item, record)
        return recorded if recorded is not None else self.conclude_pending(item, record)

    def _read(self, ref: ObjectRef) -> Pending:
        """An item a request wrote ahead (so it exists: items are never deleted)."""
        item = self._charges.get(ref)
        assert item is not None
        return item

    def _recorded(self, item: Pending, record: Record) -> Reply | None:
        """Answer what is recorded for ``item`` now; None while it is still pending."""
        current = self._read(item.ref)
        if current.status == PENDING:
            return None
        reply = reply_for(current)
        record.finish(reply)
        return reply

    def record(
        self,
        item: Pending,
        decision: Decision,
        record: Record,
        deadline: float | None = None,
    ) -> Reply | None:
        """Commit ``decision``; if another party was first, answer what it recorded.

        A success refused by a reversal's mark leaves the item pending: the reversal is
        finished here (what the bank then says is recorded), else None.
        """
        try:
            if isinstance(item, Refund):
                return self._commit_refund(item, decision, record)
            return self._commit_charge(item, decision, record)
        except WriteConflict:
            pass
        current = self._read(item.ref)
        if current.status != PENDING:
            reply = reply_for(current)
            record.finish(reply)
            return reply
        if item.reversing_at is not None or current.reversing_at is None:
            return None
        return self.settle(current, record, deadline=deadline)

    def conclude_pending(self, item: Pending, record: Record) -> Reply:
        """Answer 202 for an item the bank has not decided, with its ``charge.pending`` or
        ``refund.pending`` event.

        At most one such event per item (its key is refused twice): a resumed retry that
        answers 202 again records its response without a second event. Both commit only while
        the item is still pending: a settler that recorded it meanwhile (a GET, the sweep,
        while this request waited on a late bank answer) is answered as recorded instead.
        """
        if isinstance(item, Refund):
            reply = refund_reply(item)
            event = self._events.entry(
                item.merchant_id,
                item.id,
                REFUND_PENDING,
                iso(now_utc()),
                refund_resource(item).model_dump(mode="json"),
            )
        else:
            reply = charge_reply(item)
            event = self._events.entry(
                item.merchant_id,
                item.id,
                CHARGE_PENDING,
                iso(now_utc()),
                charge_resource(item, []).model_dump(mode="json"),
            )
        still_pending = self._charges.still_pending_entry(item)
        for entries in ([still_pending, event], [still_pending]):
            try:
                record.finish(reply, entries)
                return reply
            except WriteConflict as conflict:
                if not conflict.any_in(range(1)):
                    continue  # only the event was refused: it was written before
                recorded = self._recorded(item, record)
                if recorded is not None:
                    return recorded
        # Pending again by now (a hold's capture or void began after its authorization
        # was recorded): this request's outcome was decided before that began.
        record.finish(reply)
        return reply

    def _commit_charge(self, charge: Charge, decision: Decision, record: Record) -> Reply:
        updated_at = iso(now_utc())
        final = charge.finalized(decision, updated_at)
        entries = [self._charges.finalize_charge_entry(final, decision)]
        if not (final.status == AUTHORIZED and charge.operation == CAPTURE):
            # (a capture that never reached the bank changed nothing worth an event)
            entries.append(
                self._events.entry(
                    charge.merchant_id,
                    charge.id,
                    final_event_type("charge", final.status),
                    updated_at,
                    charge_resource(final, []).model_dump(mode="json"),
                )
            )
        reply = charge_reply(final)
        record.finish(reply, entries)
        return reply

    def _commit_refund(self, refund: Refund, decision: Decision, record: Record) -> Reply:
        updated_at = iso(now_utc())
        final = refund.finalized(decision, updated_at)
        event = self._events.entry(
            refund.merchant_id,
            refund.id,
            final_event_type("refund", final.status),
            updated_at,
            refund_resource(final).model_dump(mode="json"),
        )
        reply = refund_reply(final)
        record.finish(
            reply, [*self._charges.settle_refund_entries(refund, decision, updated_at), event]
        )
        return reply

    def sweep(self, budget_seconds: float | None = None) -> SweepReport:
        """Settle pending items whose request can no longer be running, fairly.

        The pending index is spread over ``PENDING_SHARDS`` shards, each in
        ``bank_requested_at`` order. A run starts where the previous one stopped (a cursor
        kept in the table: a shard and the last item reached) and goes on through the
        shards in turn, back to where it started, while ``budget_seconds`` (the reconcile
        function's remaining time) leaves a margin; without a budget, until done. An item a
        settler asked the bank about within ``RECHECK_SECONDS`` is skipped (no bank call).

        The bound: with N items pending past their settle window and a run able to examine
        C = budget / (two bank calls and a commit) of them, every pending item is examined
        within ceil(N / C) + 1 runs, whatever the bank answers (or fails to answer) about
        the others: items the bank never settles cannot hold the cursor back.
        """
        report = SweepReport()
        now = now_utc()
        cutoff = iso(now - self._settle_after)
        checked_at, recent = iso(now), iso(now - timedelta(seconds=RECHECK_SECONDS))
        deadline = time.monotonic() + (budget_seconds if budget_seconds is not None else 1e9)
        shard, after = self._charges.sweep_cursor()
        # Every shard once from the cursor on, then the first shard again up to the cursor.
        for _ in range(PENDING_SHARDS + (after is not None)):
            more = True
            while more:
                items, more = self._charges.pending_page(shard, cutoff, after)
                for position, item in items:
                    if deadline - time.monotonic() < self._item_seconds:
                        self._charges.save_sweep_cursor(shard, after)
                        return report
                    after = position
                    if isinstance(item, Charge) and item.status == AUTHORIZED:
                        self._expire(item, report)
                        continue
                    if not self._charges.claim_bank_check(item, checked_at, recent):
                        report.skipped += 1
                        continue
                    self._examine(item, report)
            shard, after = (shard + 1) % PENDING_SHARDS, None
        self._charges.save_sweep_cursor(shard, None)
        return report

    def _expire(self, item: Charge, report: SweepReport) -> None:
        """Void an authorization whose ``capture_before`` is over: the bank releases the hold.

        Its index key is ``capture_before``, so it is found once the settle window past that
        time is over too: a capture judged just in time has written ahead long before.
        """
        charge = self._charges.get_charge(item.merchant_id, item.id)
        if charge is None or charge.status != AUTHORIZED:
            return  # captured or voided meanwhile (the index lags the table)
        if charge.capture_before is None or charge.capture_before > iso(now_utc()):
            return  # (a clock behind the one that wrote it)
        report.examined += 1
        deadline = time.monotonic() + self._item_seconds
        try:
            reply = self.start_operation(charge, VOID, 0, self._settler, deadline)
        except (WriteConflict, Contention):
            return  # a capture or void was first (its own request finishes it), or busy
        if reply.status != 202:
            report.settled += 1
        else:
            report.still_pending += 1

    def _examine(self, item: Pending, report: SweepReport) -> None:
        report.examined += 1
        if self.settle(item) is not None:
            report.settled += 1
            return
        report.still_pending += 1
        age = (now_utc() - parse_iso(item.bank_requested_at)).total_seconds()
        report.oldest_pending_age_seconds = max(report.oldest_pending_age_seconds, age)
