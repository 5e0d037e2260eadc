"""The idempotent-command pipeline of POST /charge and POST /refund.

    look up   one read: the Idempotency-Key's record and the command's first item
    claim     no record: ``command.create`` (its write-ahead commit binds the key)
      or      completed record: replay it; other body: 422; still running: 409;
    resume    first attempt gone (lease over or released): ``command.resume``
    complete  the command commits its final state with the stored response and audit

Replies decided after validation are stored for replay by the command's own commits (see
``RequestRecord``); 409, 422 and 500 are not stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from chalicelib.adapters.dynamo import FirstRead, get_many
from chalicelib.adapters.idempotency import KeyRecord
from chalicelib.domain.charges import ObjectRef
from chalicelib.domain.keys import AuditEntry
from chalicelib.errors import ApiError, RetryLater
from chalicelib.ids import iso, now_utc
from chalicelib.services.authentication import Rejection, presented_hash
from chalicelib.services.recording import (
    Entry,
    KeyClaimedElsewhere,
    KeyNoLongerValid,
    Record,
    Reply,
    commit_with,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from chalicelib.adapters.api_keys import ApiKeyRepository
    from chalicelib.adapters.audit_log import AuditLog, RejectedAuthLog
    from chalicelib.adapters.idempotency import IdempotencyStore
    from chalicelib.models import RequestModel
    from chalicelib.services.authentication import Authenticator
    from chalicelib.web.context import RequestContext

# A reply's rendered JSON body (the envelope), as sent and as stored for replay.
Body = dict[str, object]


@dataclass(frozen=True)
class PipelineDeps:
    """What the request pipeline reads and writes beside a use case's own effects: the
    Idempotency-Key records, the API key judged again, the audit and rejection records, and
    the DynamoDB client its commits and batched first read go through. Built once by the
    container."""

    dynamodb: DynamoDBClient
    idempotency: IdempotencyStore
    api_keys: ApiKeyRepository
    authenticator: Authenticator
    audit_log: AuditLog
    rejections: RejectedAuthLog


# 409 request_in_progress: when to retry with the same key. The first request usually ends
# within a second or two; it can last no longer than the function's timeout.
RETRY_IN_PROGRESS_AFTER_SECONDS = 1


def _in_progress() -> ApiError:
    return ApiError(
        "request_in_progress", headers={"Retry-After": str(RETRY_IN_PROGRESS_AFTER_SECONDS)}
    )


Req = TypeVar("Req", contravariant=True)
First = TypeVar("First")


class Command(Protocol[Req, First]):
    """An idempotent use case (``ChargeService``, ``RefundService``, a ``HoldCommand``) of
    requests ``Req``, starting from the record ``First`` (a charge starts from its token, a
    refund from its charge), which its first read finds or not (None)."""

    def first_read(self, merchant_id: str, request: Req) -> FirstRead[First]: ...

    def create(
        self, merchant_id: str, request: Req, record: Record, first: First | None
    ) -> Reply: ...

    def resume(self, merchant_id: str, ref: ObjectRef, record: Record) -> Reply: ...


@dataclass(frozen=True)
class Replayed:
    """A stored response, answered again as it was first sent."""

    status: int
    body: str
    request_id: str


def fingerprint(method: str, path: str, request: RequestModel | None) -> str:
    """The request after validation and normalisation (null = absent, key order, case)."""
    canonical = json.dumps(
        request.model_dump(mode="json", exclude_none=True) if request is not None else None,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


class RequestRecord:
    """What one state-changing request writes beside its effects (see services.recording)."""

    def __init__(
        self,
        deps: PipelineDeps,
        merchant_id: str,
        request_id: str,
        render: Callable[[Reply], Body],
        audit: Callable[[int, str | None, str | None], AuditEntry] | None,
        key: str | None = None,
        fingerprint: str = "",
    ) -> None:
        self._deps = deps
        self._merchant = merchant_id
        self._request_id = request_id
        self._render = render
        self._audit = audit
        self.key = key
        self.request_fingerprint = fingerprint
        self.bound: ObjectRef | None = None
        self.finished = False
        # The API key, for a route that judges it again (see ``Authenticator``): the
        # Authorization header; whether it was judged against its record as it is now; and,
        # for a route judging it in its commit rather than its first read, that condition.
        self.credential: str | None = None
        self.key_confirmed = False
        self.key_guard: Entry | None = None
        # For an idempotent command: the same condition on the key, in its write-ahead
        # commit, so a key revoked after the first read moves no money (its final commit
        # carries none: once the bank was asked, the outcome is recorded whatever happens).
        self.write_ahead_guard: Entry | None = None

    def write_ahead(self, entries: Sequence[Entry], ref: ObjectRef) -> None:
        own = []
        if self.key is not None:
            own.append(
                self._deps.idempotency.bind_entry(
                    self._merchant,
                    self.key,
                    self.request_fingerprint,
                    self._request_id,
                    ref,
                    time.time(),
                )
            )
        try:
            commit_with(self._deps.dynamodb, entries, own, self.write_ahead_guard)
        except KeyNoLongerValid:
            raise KeyRefused(self._rejection_now()) from None
        self.bound = ref

    def finish(self, reply: Reply, entries: Sequence[Entry] = ()) -> None:
        own = []
        if self.key is not None:
            own.append(
                self._deps.idempotency.complete_entry(
                    self._merchant,
                    self.key,
                    self.request_fingerprint,
                    self._request_id,
                    reply.status,
                    self._render(reply.replayed_as or reply),
                    time.time(),
                    self.bound,
                )
            )
        if self._audit is not None:
            own.append(self._deps.audit_log.entry(self._audit_of(reply)))
        try:
            commit_with(self._deps.dynamodb, list(entries), own, self.key_guard)
        except KeyNoLongerValid:
            raise KeyRefused(self._rejection_now()) from None
        self.key_confirmed = True
        self.finished = True

    def judge_key_now(self) -> KeyRefused | None:
        """For a request refused before its key was judged again: judge it now, with a read
        of its own (error paths only), so a refused key gets its 401 before anything else."""
        if self.credential is None or self.key_confirmed:
            return None
        rejection = self._confirm_key_now()
        return KeyRefused(rejection) if rejection is not None else None

    def _rejection_now(self) -> Rejection:
        """Why a commit's key condition failed, from a read of the key's record now."""
        rejection = self._confirm_key_now() if self.credential is not None else None
        if rejection is not None:
            return rejection
        # The guard failed, yet the record reads valid: it changed in between. Refuse anyway.
        return Rejection("unknown_key", None)

    def _confirm_key_now(self) -> Rejection | None:
        """The presented key judged against a read of its record now."""
        key_hash = presented_hash(self.credential)
        key_record = self._deps.api_keys.get(key_hash) if key_hash is not None else None
        return self._deps.authenticator.confirm(self.credential, key_record, self._merchant)

    def _audit_of(self, reply: Reply) -> AuditEntry:
        assert self._audit is not None
        code = reply.error.code if reply.error else None
        return self._audit(reply.status, code, reply.object_id)

    def audit_now(self, status: int, error_code: str | None) -> None:
        """Audit a request whose outcome rides on no commit (refused, replayed, failed)."""
        if self._audit is not None:
            self._deps.audit_log.append(self._audit(status, error_code, None))

    def release(self) -> None:
        """After an internal error: let a retry resume at once what this request wrote ahead."""
        if self.key is not None and self.bound is not None and not self.finished:
            self._deps.idempotency.release(self._merchant, self.key, self._request_id)

    def take_over(self, existing: KeyRecord) -> bool:
        assert self.key is not None
        if not self._deps.idempotency.take_over(
            self._merchant, self.key, existing.owner, self._request_id, time.time()
        ):
            return False
        assert existing.object_ref is not None
        self.bound = existing.object_ref
        return True


class KeyRefused(ApiError):
    """The key the authorizer allowed is no longer valid, as the route's own read or commit
    shows (see ``Authenticator``)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__("invalid_api_key")
        self.rejection = rejection


def run(
    command: Command[Req, First],
    merchant_id: str,
    request: Req,
    record: RequestRecord,
    deps: PipelineDeps,
) -> Reply | Replayed:
    """Serve one idempotent command (see the module's docstring).

    The first read also fetches the API key's record: the key is judged again before
    anything is written (see ``Authenticator``), and once more by a condition in the
    write-ahead commit (a key revoked in between writes nothing), at no extra round trip.
    """
    read = command.first_read(merchant_id, request)
    reads = [(read.table, read.key)]
    if record.key is not None:
        reads.append((deps.idempotency.table, deps.idempotency.key(merchant_id, record.key)))
    key_hash = presented_hash(record.credential)
    if key_hash is not None:
        reads.append((deps.api_keys.table, deps.api_keys.key(key_hash)))
    found, *rest = get_many(deps.dynamodb, reads)
    first = read.of(found)
    key_record = deps.api_keys.parse(rest.pop()) if key_hash is not None else None
    refused = deps.authenticator.confirm(record.credential, key_record, merchant_id)
    if refused is not None:
        raise KeyRefused(refused)
    record.key_confirmed = True
    if key_hash is not None and key_record is not None:
        record.write_ahead_guard = deps.api_keys.still_valid_entry(
            key_hash, merchant_id, key_record.key_type, iso(now_utc())
        )
    if record.key is None:
        return _create(command, merchant_id, request, record, first)
    store = deps.idempotency
    existing = store.parse(rest[0], time.time())
    try:
        if existing is None:
            return _create(command, merchant_id, request, record, first)
    except KeyClaimedElsewhere:
        existing = store.read(merchant_id, record.key, time.time())
        if existing is None:
            raise _in_progress() from None
    return _answer_existing(command, merchant_id, record, existing)


def _create(
    command: Command[Req, First],
    merchant_id: str,
    request: Req,
    record: RequestRecord,
    first: First | None,
) -> Reply:
    try:
        return command.create(merchant_id, request, record, first)
    except (KeyRefused, RetryLater):
        raise  # the key or contention, not the request's state: nothing is stored
    except ApiError as refusal:
        # Decided by the state found (an unknown token, a refunded charge): stored, replayed.
        reply = Reply(refusal.status, error=refusal)
        record.finish(reply)
        return reply


def _answer_existing(
    command: Command[Req, First], merchant_id: str, record: RequestRecord, existing: KeyRecord
) -> Reply | Replayed:
    if existing.fingerprint != record.request_fingerprint:
        raise ApiError("idempotency_key_reused")
    if existing.completed:
        assert existing.status is not None and existing.body is not None
        return Replayed(existing.status, existing.body, existing.request_id or "")
    if existing.lease_expires_at >= time.time() or not record.take_over(existing):
        raise _in_progress()
    assert record.bound is not None
    return command.resume(merchant_id, record.bound, record)


def audit_record(
    action: str, route: str, ctx: RequestContext
) -> Callable[[int, str | None, str | None], AuditEntry]:
    """The audit record of this request, once its outcome is known."""

    def build(status: int, error_code: str | None, object_id: str | None) -> AuditEntry:
        return AuditEntry(
            at=iso(now_utc()),
            request_id=ctx.request_id,
            merchant_id=ctx.merchant_id,
            key_id=ctx.key_id,
            action=action,
            route=route,
            object_id=object_id,
            status=status,
            error_code=error_code,
            source_ip=ctx.source_ip,
            user_agent=ctx.user_agent,
        )

    return build
