"""moto server (DynamoDB and KMS), single-threaded, with transactions and queries whose
cost does not grow with the table.

One request at a time removes any doubt about moto's own locking when concurrency tests
race conditional writes; the platform's invariants must then hold by its conditions alone.

moto 5.2.5 has two costs proportional to a whole table, which made the local stack slower
the longer it ran (and, for transactions, grow its memory by gigabytes):

* ``transact_write_items`` deep-copies every table a transaction touches, once per item in
  the transaction, to be able to roll back;
* ``Table.query`` sorts every item of the table (``all_items``) before it looks at the key,
  even for a query on one partition of the base table.

``install()`` replaces both with versions whose cost is that of the items they touch: a
transaction journals only its own items (their previous state, or their absence) and puts
them back on rollback; a base-table query reads only its partition, and an index query scans
the table without sorting it first (moto sorts the candidates by the index's keys afterwards).
The behaviour seen by a client is unchanged. Both are written against moto's own internals
as of the version below (``PINNED_MOTO``, pinned in pyproject.toml), in the shape of a patch
that could be offered upstream; ``install()`` refuses any other version rather than patch
code it has not been checked against.

Besides, moto spends most of a small request on work whose answer never changes between
requests; ``install()`` also makes that work once: a condition expression is parsed once per
text (its values are bound on each use), a handler's method names are listed once per class,
and an item-bearing answer that is plain JSON is written with ``json.dumps`` rather than by
walking the operation's output shape (see ``_plain_json``).

Two patches concern the server around moto, in this process only: request headers are read
without the standard library's e-mail parser (``parse_headers``, CPython 3.11), and
werkzeug's server stops waiting, after each answer, for a client that has sent everything
(``_NoWaitForAClientThatSentAll``, werkzeug 3). Each refuses to install on a version it was
not checked against. docs/moto-upstream.md proposes the upstream-worthy ones to moto.

One patch adds behaviour that moto lacks and DynamoDB has: ``TransactWriteItems`` honours its
``ClientRequestToken`` (see ``_idempotent_transactions``), so a transaction that botocore
re-sends after losing its answer is not refused as a conflict with itself.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime
import email.parser
import functools
import http.client
import importlib.metadata
import inspect
import json
import logging
import re
import selectors
import string
import sys
import time
import types
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PINNED_MOTO = "5.2.5"
# werkzeug's server module is patched too (``_serve_without_waiting_for_closes``), and the
# standard library's header reader (``_parse_headers``): both checked for these versions.
PINNED_WERKZEUG_MAJOR = 3
PINNED_PYTHON = (3, 11)
# What ``install`` replaced outright (the wrappers keep theirs in ``__wrapped__``), for tests
# that compare the shim with upstream.
UPSTREAM: dict[str, Any] = {}


@dataclass
class _Saved:
    table: Any  # moto.dynamodb.models.table.Table
    hash_key: Any  # DynamoType
    range_key: Any  # DynamoType | None
    item: Any  # a deep copy of the item before the transaction, or None if it was absent
    stream_records: int | None  # length of the table's stream before the transaction


class ItemJournal:
    """The state, before a transaction, of the items it touches; puts them back on rollback."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._saved: list[_Saved] = []

    def remember(self, transact_item: dict[str, Any]) -> None:
        from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException

        (op_type, op), *_ = transact_item.items()
        try:
            table = self._backend.get_table(op.get("TableName", ""))
        except ResourceNotFoundException:
            return  # the transaction fails on it without touching anything
        source = op.get("Item", {}) if op_type == "Put" else op.get("Key", {})
        try:
            hash_key, range_key = self._backend.get_keys_value(table, source)
        except MockValidationException:
            return  # no key: refused before it can be written
        current = table.get_item(hash_key, range_key)
        # An update changes the stored item in place, so its state is copied; a put or a
        # delete replaces or removes the object and never changes it: keeping it is enough.
        if current is not None and op_type == "Update":
            current = copy.deepcopy(current)
        shard = table.stream_shard
        self._saved.append(
            _Saved(
                table,
                hash_key,
                range_key,
                current,
                len(shard.items) if shard is not None else None,
            )
        )

    def restore(self) -> None:
        # Newest first: if one item was journalled twice, its oldest state wins.
        for saved in reversed(self._saved):
            items = saved.table.items
            if saved.range_key is not None:
                partition = items[saved.hash_key]
                if saved.item is None:
                    partition.pop(saved.range_key, None)
                else:
                    partition[saved.range_key] = saved.item
            elif saved.item is None:
                items.pop(saved.hash_key, None)
            else:
                items[saved.hash_key] = saved.item
            shard = saved.table.stream_shard
            if shard is not None and saved.stream_records is not None:
                del shard.items[saved.stream_records :]
        self._saved.clear()


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """``DynamoDBBackend.transact_write_items`` of moto 5.2.5, rolling back by item.

    The change from upstream is the backup: an ``ItemJournal`` of the touched items instead
    of ``copy.deepcopy`` of each touched table (once per transaction item). Besides, an item's
    condition is parsed and evaluated once, not a second time inside ``put_item`` & co.
    """
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import ConditionalCheckFailed, get_filter_expression

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = ItemJournal(self)
    for item in transact_items:
        if len(item) == 1:
            journal.remember(item)

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            journal.restore()
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            # The condition was checked just above on this very item; upstream passes it on
            # to put_item & co., which parse and evaluate it a second time.
            expressions = {
                "expression_attribute_names": names,
                "expression_attribute_values": values,
            }
            if op_type == "Put":
                self.put_item(table_name, op["Item"], **expressions)
            elif op_type == "Delete":
                self.delete_item(table_name, key, **expressions)
            elif op_type == "Update":
                self.update_item(
                    table_name, key, update_expression=op["UpdateExpression"], **expressions
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            journal.restore()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - upstream reports any failure per item
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        journal.restore()
        raise TransactionCanceledException(errors)


def _query_without_full_sort(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Table.query`` that reads one partition (base table) or skips the full sort (index)."""

    signature = inspect.signature(original)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if index_name is None and hash_key is not None:
            # Upstream keeps only the items whose hash key matches: the partition is exactly
            # those, so the query sees a table holding that partition alone.
            everything = self.items
            self.items = {hash_key: everything[hash_key]} if hash_key in everything else {}
            try:
                return original(self, hash_key, *args, **kwargs)
            finally:
                self.items = everything
        # Index queries sort their candidates by the index's keys and the table's keys (a
        # total order), so the table-wide sort of ``all_items`` before it is wasted work.
        self.all_items = lambda: [
            item
            for partition in self.items.values()
            for item in (partition.values() if self.range_key_attr else (partition,))
        ]
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    query.__wrapped__ = original  # type: ignore[attr-defined]
    return query


# ---- work done once instead of on every request ------------------------------------------

_Names = tuple[tuple[str, str], ...] | None


@functools.lru_cache(maxsize=1024)
def _condition_tree(
    expression: str, names: _Names, value_names: frozenset[str] | None
) -> tuple[Any, list[str], list[str]]:
    """The syntax tree of a condition expression, with the names it uses, parsed once.

    The steps are upstream's ``ConditionExpressionParser.parse`` up to the tree, so a bad
    expression, name or missing value raises exactly what upstream raises (and nothing is
    cached). The tree depends on the values' placeholders only: the values themselves are
    bound when the tree is turned into an operator, on every use (``_operand``).
    """
    from moto.dynamodb.comparisons import ConditionExpressionParser

    placeholders = None if value_names is None else dict.fromkeys(value_names, {"NULL": True})
    parser = ConditionExpressionParser(
        expression, None if names is None else dict(names), placeholders
    )
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    return node, parser._find_literals(node), parser._find_expr_attr_values(node)


def _parse_condition(self: Any) -> Any:
    """``ConditionExpressionParser.parse`` from a cached tree, bound to this request's values."""
    from moto.dynamodb.comparisons import OpDefault

    if not self.condition_expression:
        return OpDefault(None, None)  # type: ignore[arg-type]
    names = self.expression_attribute_names
    values = self.expression_attribute_values
    node, names_found, values_found = _condition_tree(
        self.condition_expression,
        None if names is None else tuple(sorted(names.items())),
        None if values is None else frozenset(values),
    )
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    return self._make_op_condition(node)


def _operand(original: Callable[..., Any]) -> Callable[..., Any]:
    """``_make_operand`` taking a value from this request (the cached tree holds placeholders)."""
    from moto.dynamodb.comparisons import AttributeValue, ConditionExpressionParser

    value_kind = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE

    def make_operand(self: Any, node: Any) -> Any:
        if node.kind == value_kind:
            return AttributeValue(self.expression_attribute_values[node.text])
        return original(self, node)

    make_operand.__wrapped__ = original  # type: ignore[attr-defined]
    return make_operand


def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """``Item.__init__`` checking the item's size once instead of once per attribute.

    Upstream adds the attributes one by one to a ``LimitedSizeDict``, which sums the size of
    every attribute already there on each insert: quadratic in the attributes. The limit and
    the error are upstream's; the sizes only grow, so the total is checked once, at the end,
    and only counted exactly when the item's JSON text (an upper bound) is over the limit.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict, bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    converted = {key: DynamoType(value) for key, value in attrs.items()}
    if _json_length(attrs) > _ITEM_SIZE_LIMIT and (
        sum(bytesize(key) + value.size() for key, value in converted.items()) > _ITEM_SIZE_LIMIT
    ):
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict(converted)  # dict.update: no check per attribute


_ITEM_SIZE_LIMIT = 405000  # upstream's ``LimitedSizeDict`` limit


def _json_length(attrs: dict[str, Any]) -> float:
    """An upper bound of an item's size as upstream counts it, computed in C.

    Every name and value is in the JSON text with something around it: a string as at
    least its UTF-8 bytes (``\\u`` escapes are longer), a number as its digits, a boolean
    or null in 4 or 5 characters (upstream counts 1), binary as many characters as bytes.
    Anything else (values already typed) gives no bound: the exact count is made.
    """
    try:
        return len(json.dumps(attrs, default=_bytes_as_text))
    except TypeError:
        return float("inf")


def _bytes_as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return "x" * len(value)
    raise TypeError(type(value).__name__)


# Requests whose botocore-shaped parse is ``json.loads`` unless they carry binary attributes
# (which the parser decodes from base64).
_PLAIN_JSON_REQUESTS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "TransactWriteItems",
    }
)


def _plain_json_parse(original: Callable[..., Any]) -> Callable[..., Any]:
    """``parse_parameters`` with ``json.loads`` for item requests without binary attributes.

    Upstream walks the operation's input shape; for these requests the result is the JSON
    document itself. A body naming ``"B"`` or ``"BS"`` anywhere (an attribute type, or just
    text), or one that is not JSON, takes upstream's parser and gets upstream's answer.
    """

    def parse_parameters(self: Any, request: Any) -> None:
        body = self.body
        if (
            isinstance(body, str)
            and '"B"' not in body
            and '"BS"' not in body
            and self._get_action() in _PLAIN_JSON_REQUESTS
        ):
            try:
                params = json.loads(body)
            except ValueError:
                params = None
            if isinstance(params, dict):
                self.params = params
                return
        original(self, request)

    parse_parameters.__wrapped__ = original  # type: ignore[attr-defined]
    return parse_parameters


# Answers that are items, keys and counts: JSON as they stand, bytes (B, BS) in base64.
_PLAIN_JSON_ACTIONS = frozenset(
    {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
)
# The same, but built with optional members that might be None deeper down (which the shaped
# writer leaves out): written directly only when they hold none. Query and Scan list items;
# Streams' GetRecords hands the delivery worker every event written (images, keys, a time).
_PLAIN_JSON_UNLESS_NONE = frozenset({"Query", "Scan", "GetRecords"})
# The members of these answers that hold numbers. Each of those numbers is a double (capacity
# units, size estimates), which upstream writes as a float (``2.0``, not ``2``); items hold no
# JSON numbers (an N is a string).
_NUMBERS_IN = frozenset({"ConsumedCapacity", "ItemCollectionMetrics"})


def _json_value(value: Any) -> Any:
    """What the shaped writer makes of the two non-JSON types these answers hold."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        from moto.core.serialize import TimestampSerializer

        return TimestampSerializer("unixtimestamp")._convert_timestamp_to_str(
            value, "unixtimestamp"
        )
    raise TypeError(f"not JSON: {type(value).__name__}")


def _has_none(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_none(v) for v in value)
    return False


@functools.cache
def _output_members(service: str, action: str) -> frozenset[str]:
    """The members of an action's answer: upstream's writer leaves out any other key."""
    from moto.core.utils import get_service_model

    return frozenset(get_service_model(service).operation_model(action).output_shape.members)


def _doubles(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _doubles(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_doubles(member) for member in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _plain_json(original: Callable[..., Any]) -> Callable[..., Any]:
    """``serialized`` writing a plain answer with ``json.dumps``.

    Upstream walks the operation's output shape member by member to write what, for these
    answers, is already the service's JSON: the same document at a fraction of the cost. What
    the walk changes is done here too: a key that is no member of the answer (DeleteItem's
    ``ConsumedCapacityUnits``) or that is None is left out, and capacity units are written
    as doubles (BatchGetItem's ``2.0``). Errors, every other action and a Query, Scan or
    GetRecords answer holding a None further down keep upstream's writer.
    """

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        action = self._get_action() if isinstance(result, dict) else None
        if action in _PLAIN_JSON_ACTIONS or (
            action in _PLAIN_JSON_UNLESS_NONE and not _has_none(result)
        ):
            members = _output_members(self.boto3_service_name, action)
            document = {
                key: _doubles(value) if key in _NUMBERS_IN else value
                for key, value in result.items()
                if key in members and value is not None
            }
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, json.dumps(document, default=_json_value)
        return original(self, action_result)

    serialized.__wrapped__ = original  # type: ignore[attr-defined]
    return serialized


def _request_id(headerdict: dict[str, Any] | None = None) -> str:
    """``gen_amzn_requestid_long`` with one ``choices`` call instead of 52 ``choice`` calls."""
    from moto.moto_api._internal import mock_random

    request_id = "".join(mock_random.choices(_REQUEST_ID_ALPHABET, k=52))
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = request_id
    return request_id


_REQUEST_ID_ALPHABET = string.ascii_letters + string.digits


def _dispatcher() -> Any:
    """moto's dispatcher, remembering which service a host name belongs to, with a direct
    path to DynamoDB's handler.

    Upstream scans every moto module's name and URL pattern on each request to find it
    (about 50 list builds per request in moto 5.2.5); the answer for a host never changes.
    And a DynamoDB call (``X-Amz-Target: DynamoDB_20120810.*``, one URL, POST) goes straight
    to the handler Flask would route it to, ``DynamoHandler.dispatch``, with the request
    built as moto's Flask app builds it: Flask's request context, URL map and debug hooks
    cost a DynamoDB call more than the call itself. A request carrying ``Origin`` (CORS,
    which the Flask app answers) and everything else take the Flask app.
    """
    from flask import Response  # as moto's Flask route: an answer without a type is text/html
    from moto.core.request import Request
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_api import recorder
    from moto.server import DomainDispatcherApplication, create_backend_app

    class FromServer(Request):
        from_wsgi_server = True  # as moto's Flask request class: the server dates answers

    class Dispatcher(DomainDispatcherApplication):
        def __init__(self) -> None:
            super().__init__(create_backend_app)
            self._backend_of: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._backend_of:
                self._backend_of[host] = super().get_backend_for_host(host)
            return self._backend_of[host]

        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            if (
                environ.get("REQUEST_METHOD") == "POST"
                and environ.get("PATH_INFO") == "/"
                and environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_20120810.")
                and "HTTP_ORIGIN" not in environ
            ):
                return self._dynamodb(environ, start_response)
            return super().__call__(environ, start_response)

        @staticmethod
        def _dynamodb(environ: dict[str, Any], start_response: Any) -> Any:
            from botocore.exceptions import ClientError

            request = FromServer(environ)
            try:  # what moto's ``convert_to_flask_response`` does around the handler
                recorder._record_request(request)
                status, headers, body = DynamoHandler.dispatch(
                    request, request.raw_url, dict(request.headers)
                )
            except ClientError as exc:
                status, headers, body = 400, {}, exc.response["Error"]["Message"]
            return Response(response=body, status=status, headers=headers)(environ, start_response)

    return Dispatcher()


class _NoWaitForAClientThatSentAll(selectors.DefaultSelector):
    """The selector werkzeug's server drains a request's socket with, after answering it.

    werkzeug 3 reads what the client may still be sending (a body the application did not
    read), waiting up to 10 ms at a time for more: in the usual case, for the client to read
    the answer and close the connection (every answer says ``Connection: close``). This
    server handles one request at a time, so each request held moto for as long as its
    client took to be scheduled and close it: under load at 8 clients, a sixth of the
    charges/s. Here the first wait is answered at once: data already waiting is drained as
    werkzeug drains it (its later waits unchanged); a client that has sent everything is
    not waited for.
    """

    def __init__(self) -> None:
        super().__init__()
        self._waited = False

    def select(self, timeout: float | None = None) -> list[Any]:
        if not self._waited:
            self._waited = True
            return super().select(0)
        return super().select(timeout)


def _serve_without_waiting_for_closes() -> None:
    """werkzeug's server module sees ``selectors`` with the selector above (this process)."""
    import werkzeug.serving

    major = int(importlib.metadata.version("werkzeug").split(".")[0])
    if major != PINNED_WERKZEUG_MAJOR or not hasattr(werkzeug.serving, "selectors"):
        raise RuntimeError(
            f"payments_admin.moto_server patches werkzeug {PINNED_WERKZEUG_MAJOR}.x's server, "
            f"found {importlib.metadata.version('werkzeug')}: check the drain it replaces"
        )

    module = types.ModuleType("selectors")
    module.__dict__.update(vars(selectors))
    module.DefaultSelector = _NoWaitForAClientThatSentAll  # type: ignore[attr-defined]
    werkzeug.serving.selectors = module  # type: ignore[attr-defined]


# ---- request headers: http.client's reader without the e-mail parser ---------------------
#
# Upstream: ``http.server`` (under werkzeug's server) reads each request's headers with
# ``http.client.parse_headers``, which hands the block to the e-mail parser: about 40 us of
# CPU per request, a tenth of a DynamoDB call here. Requests from botocore carry one
# ``Name: value`` per line; such a block is stored exactly as the e-mail parser's compat32
# policy stores it. Any other block (a folded line, a line without a name, a bare carriage
# return) goes to the stdlib parser whole, so the result is always the stdlib's. Patched in
# this process only (it only serves); written against CPython 3.11's private
# ``http.client._read_headers`` and ``HTTPMessage._headers``, so refused on another version.

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # visible ASCII but ':' (an HTTP token is stricter)
STDLIB_PARSE_HEADERS = http.client.parse_headers


def parse_headers(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers``, reading ordinary blocks without the e-mail parser."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]  # stdlib's limits
    message = _class()
    for raw in lines:
        if raw in (b"\r\n", b"\n", b""):
            break
        name, colon, value = raw.decode("iso-8859-1").partition(":")
        if (
            not colon
            or not _HEADER_NAME.fullmatch(name)
            or raw.count(b"\r") > raw.endswith(b"\r\n")
        ):
            text = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=_class).parsestr(text)
        message._headers.append((name, value.lstrip(" \t").rstrip("\r\n")))
    return message


def _read_headers_without_the_email_parser() -> None:
    if sys.version_info[:2] != PINNED_PYTHON or list(
        inspect.signature(STDLIB_PARSE_HEADERS).parameters
    ) != ["fp", "_class"]:
        raise RuntimeError(
            "payments_admin.moto_server replaces http.client.parse_headers of CPython "
            f"{PINNED_PYTHON}: check it against this Python, then update PINNED_PYTHON"
        )
    http.client.parse_headers = parse_headers  # type: ignore[assignment]


# DynamoDB keeps a transaction's ClientRequestToken this long after the call completed.
TOKEN_WINDOW_SECONDS = 600.0


def _idempotent_transactions(original: Callable[..., Any]) -> Callable[..., Any]:
    """``DynamoHandler.transact_write_items`` honouring ``ClientRequestToken`` as DynamoDB does.

    Within ``TOKEN_WINDOW_SECONDS`` of a successful transaction, the same token with the same
    request succeeds again without applying anything; the same token with another request
    is refused with ``IdempotentParameterMismatchException``. A transaction that failed is
    not remembered: its re-send is judged afresh. moto 5.2.5 ignores the token, so botocore's
    re-send of a transaction whose answer was lost (a read timeout) is refused by the very
    conditions the first attempt had satisfied. One request at a time (this server is
    single-threaded), so no lock.
    """
    from moto.core.responses import ActionResult
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    class IdempotentParameterMismatch(DynamodbException):
        def __init__(self) -> None:
            super().__init__(
                ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                "The request uses the same client token as a previous, but non-identical "
                "request. Do not reuse a client token with different requests, unless the "
                "requests are identical.",
            )

    # token -> (when it completed, the request it answered), oldest first.
    completed: OrderedDict[str, tuple[float, str]] = OrderedDict()

    @functools.wraps(original)
    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if token is None:
            return original(self)
        now = time.monotonic()
        while completed and now - next(iter(completed.values()))[0] > TOKEN_WINDOW_SECONDS:
            completed.popitem(last=False)
        request = json.dumps(self.body["TransactItems"], sort_keys=True, default=repr)
        if token in completed:
            if completed[token][1] != request:
                raise IdempotentParameterMismatch()
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = original(self)
        completed[token] = (now, request)
        return result

    return transact_write_items


def _wrap_once(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
    """``owner.name = wrap(owner.name)`` unless it is already wrapped (it keeps ``__wrapped__``)."""
    if getattr(getattr(owner, name), "__wrapped__", None) is None:
        setattr(owner, name, wrap(getattr(owner, name)))


def install() -> None:
    """Patch moto (once) as described above; refuse a moto version it was not written for."""
    import moto
    import moto.core.responses as moto_responses
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    if moto.__version__ != PINNED_MOTO:
        raise RuntimeError(
            f"payments_admin.moto_server patches moto {PINNED_MOTO}, found {moto.__version__}: "
            "check the patched methods against the new version, then update PINNED_MOTO"
        )
    _wrap_once(Table, "query", _query_without_full_sort)
    DynamoDBBackend.transact_write_items = transact_write_items
    if ConditionExpressionParser.parse is not _parse_condition:
        UPSTREAM["ConditionExpressionParser.parse"] = ConditionExpressionParser.parse
        ConditionExpressionParser.parse = _parse_condition
    _wrap_once(ConditionExpressionParser, "_make_operand", _operand)
    _wrap_once(DynamoHandler, "parse_parameters", _plain_json_parse)
    _wrap_once(DynamoHandler, "transact_write_items", _idempotent_transactions)
    if Item.__init__ is not _item_init:
        UPSTREAM["Item.__init__"] = Item.__init__
        Item.__init__ = _item_init
    _wrap_once(DynamoHandler, "serialized", _plain_json)
    _wrap_once(DynamoDBStreamsHandler, "serialized", _plain_json)
    UPSTREAM.setdefault("gen_amzn_requestid_long", moto_responses.gen_amzn_requestid_long)
    moto_responses.gen_amzn_requestid_long = _request_id
    if getattr(moto_responses.method_names_from_class, "cache_info", None) is None:
        # Called on every request to check the action is a method; a class's never change.
        moto_responses.method_names_from_class = functools.lru_cache(maxsize=None)(
            moto_responses.method_names_from_class
        )


def main() -> None:
    from werkzeug.serving import WSGIRequestHandler, run_simple

    from payments_admin.stack import watch_parent

    parser = argparse.ArgumentParser(description="moto server for the local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    watch_parent()
    install()
    app = _dispatcher()
    # This process only serves: every header block it parses is a request's.
    _read_headers_without_the_email_parser()
    _serve_without_waiting_for_closes()
    # One access line per DynamoDB call cost moto ~0.5 ms each, for a log nobody reads.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # As in chalice local: no ~40 ms Nagle/delayed-ACK stall between headers and body.
    WSGIRequestHandler.disable_nagle_algorithm = True
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
