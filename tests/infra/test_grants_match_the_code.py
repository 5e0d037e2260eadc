"""The grant table against what the code really calls, on the local stack.

Mocks and linters cannot tell whether a function's role lets it do its job. Here every
route group runs through Chalice's test client against moto and the mock bank while
the AWS calls are recorded (per function: the authorizer's by the code it runs in, the
others by the route called); each must be allowed by that function's row of
``grants.GRANTS``. A change in the code that needs a new permission fails here, not in
production as an AccessDenied.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.container import Container, get_container, reset_container
from chalicelib.ids import iso, now_utc
from payments_infra import app_model, grants
from tests.helpers import VISA, HandlerApi, card, charge_body, tokenize
from tests.receiver import receivers

BANK_ERROR_CARD = "4000000000000119"
DECLINED_CARD = "4000000000000002"
REFUND_DECLINED_CARD = "4000000000005126"
SLOW_CARD = "4000000000001000"
CAPTURE_DECLINED_CARD = "4000000000000341"

_WRITE_ITEM_ACTIONS = {
    "Put": grants.PUT,
    "Update": grants.UPDATE,
    "Delete": grants.DELETE,
    "ConditionCheck": grants.CHECK,
}


@dataclass
class Recorder:
    """(function, IAM action, resource) of every AWS call made while a function runs."""

    table_prefix: str
    kms_keys: dict[str, str]  # key id as configured -> grant kind
    function: str | None = None
    calls: set[tuple[str, str, str]] = field(default_factory=set)
    contexts: list[dict[str, str] | None] = field(default_factory=list)

    def _who(self) -> str | None:
        frame = sys._getframe()
        while frame is not None:
            if frame.f_code.co_filename.endswith("chalicelib/web/authorizer.py"):
                return "authorizer"
            frame = frame.f_back  # type: ignore[assignment]
        return self.function

    def _table(self, name: str) -> str:
        return name.removeprefix(self.table_prefix)

    def dynamodb(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        who = self._who()
        if who is None:
            return
        operation = model.name
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                self.calls.add((who, _WRITE_ITEM_ACTIONS[kind], self._table(body["TableName"])))
        elif operation == "TransactGetItems":
            for item in params["TransactItems"]:
                self.calls.add((who, grants.GET, self._table(item["Get"]["TableName"])))
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for name in params["RequestItems"]:
                self.calls.add((who, f"dynamodb:{operation}", self._table(name)))
        else:
            resource = self._table(params["TableName"])
            if params.get("IndexName"):
                resource += f"/index/{params['IndexName']}"
            self.calls.add((who, f"dynamodb:{operation}", resource))

    def kms(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        who = self._who()
        if who is None:
            return
        self.calls.add((who, f"kms:{model.name}", self.kms_keys.get(params["KeyId"], "?")))
        if model.name in ("GenerateDataKey", "Decrypt"):
            self.contexts.append(params.get("EncryptionContext"))


_SCHEDULED = {
    "version": "0",
    "id": "test",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


def _event_image(services: Any, merchant_id: str, endpoint: dict[str, Any]) -> dict[str, Any]:
    """A stream record of a new event, as Lambda hands it over."""
    entry = services.events.entry(
        merchant_id, f"ch_{uuid.uuid4().hex}", "charge.succeeded", iso(now_utc()), {"id": "x"}
    )
    return {
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Events/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": time.time(),
            "Keys": {"event_id": entry["Put"]["Item"]["event_id"]},
            "NewImage": entry["Put"]["Item"],
            "SequenceNumber": "100",
            "SizeBytes": 100,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def allowed(function: str, action: str, resource: str) -> bool:
    grant = grants.GRANTS[function]
    if action.startswith("kms:"):
        return action in getattr(grant, resource, ())
    table, _, index = resource.partition("/index/")
    for access in grant.tables:
        if access.table.name != table:
            continue
        if index:
            return action == grants.QUERY and index in {i.name for i in access.indexes}
        return action in access.actions
    return False


@pytest.fixture
def recorder(services: Any) -> Iterator[Recorder]:
    settings = services.settings
    recorder = Recorder(
        table_prefix=settings.table_prefix,
        kms_keys={settings.kms_key_id: "card_data_key", settings.hmac_key_id: "fingerprint_key"},
    )
    yield recorder
    reset_container(services)


def run_as(recorder: Recorder, function: str | None) -> None:
    """Calls from now on are ``function``'s, made from a container of its own (as deployed:
    e.g. the charge function has no data key cached by the token function)."""
    container = Container(get_container().settings)
    container.dynamodb.meta.events.register("provide-client-params.dynamodb", recorder.dynamodb)
    container.kms.meta.events.register("provide-client-params.kms", recorder.kms)
    reset_container(container)
    recorder.function = function


def test_every_call_of_every_function_is_granted(
    recorder: Recorder, client: Any, merchant: Any
) -> None:
    api, key = HandlerApi(client), merchant.secret_key
    routes = app_model.route_table(app_model.load_chalice_app())

    def call(method: str, route: str, path: str | None = None, **kwargs: Any) -> Any:
        if recorder.function != routes[(method, route)]:
            run_as(recorder, routes[(method, route)])
        return api.request(method, path or route, key=kwargs.pop("key", key), **kwargs)

    run_as(recorder, "token")
    tokens = [tokenize(api, key, n) for n in (VISA, VISA, DECLINED_CARD, BANK_ERROR_CARD)]
    refund_token = tokenize(api, key, REFUND_DECLINED_CARD)
    slow_token = tokenize(api, key, SLOW_CARD)

    charges = []
    for token in (*tokens, refund_token):
        idempotency = {"Idempotency-Key": str(uuid.uuid4())}
        body = charge_body(token, amount=5000)
        response = call("POST", "/charge", body=body, headers=idempotency)
        replay = call("POST", "/charge", body=body, headers=idempotency)
        assert replay.status == response.status
        charges.append(
            response.json["error"]["charge"] if response.status >= 400 else response.data["id"]
        )
    assert call("POST", "/charge", body=charge_body(tokens[0])).status == 400  # token used

    assert call("GET", "/charge/{charge_id}", f"/charge/{charges[0]}").status == 200
    # A charge the bank answers too late (202) is settled by the next read.
    slow = call("POST", "/charge", body=charge_body(slow_token, amount=700))
    assert slow.status == 202
    settled = call("GET", "/charge/{charge_id}", f"/charge/{slow.data['id']}")
    assert settled.data["status"] == "succeeded"
    assert call("GET", "/charges", "/charges?limit=2").status == 200
    assert call("GET", "/charges", f"/charges?starting_after={charges[1]}").status == 200
    assert call("GET", "/health", key=None).status == 200
    assert call("GET", "/openapi.json", key=None).status == 200

    # Browser checkout: the card-fields page (key and origins read), the library, the
    # preflight, and a browser's POST /token from a registered and an unregistered origin.
    run_as(recorder, None)
    shop = "https://shop.example.com"
    get_container().checkout.allow(merchant.merchant_id, shop)
    pk = merchant.publishable_key
    page = f"/elements/card?key={pk}&origin={shop}"
    assert call("GET", "/elements/card", page, key=None).status == 200
    bad_page = f"/elements/card?key=pk_test_{'x' * 32}&origin={shop}"
    assert call("GET", "/elements/card", bad_page, key=None).status == 401
    assert call("GET", "/js/v1/payments.js", key=None).status == 200
    assert call("GET", "/js/v1/payments.mjs", key=None).status == 200
    assert call("OPTIONS", "/token", key=None).status == 204
    for origin, status in ((shop, 201), ("https://other.example.com", 403)):
        browser = call("POST", "/token", body=card(), key=pk, headers={"Origin": origin})
        assert browser.status == status

    for charge_id, amount in ((charges[0], 1000), (charges[0], None), (charges[-1], 100)):
        body = {"charge_id": charge_id, **({"amount": amount} if amount else {})}
        call("POST", "/refund", body=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert call("POST", "/refund", body={"charge_id": charges[0]}).status == 409

    # Authorize now, capture later: a capture (partial, declined) and a void, replayed.
    run_as(recorder, "token")
    held_tokens = [tokenize(api, key, n) for n in (VISA, VISA, CAPTURE_DECLINED_CARD)]
    held = [
        call("POST", "/charge", body=charge_body(t, capture=False)).data["id"] for t in held_tokens
    ]
    for route, charge_id, body, status in (
        ("/charge/{charge_id}/capture", held[0], {"amount": 100}, 201),
        ("/charge/{charge_id}/void", held[1], {}, 200),
        ("/charge/{charge_id}/capture", held[2], {}, 402),
    ):
        path = route.replace("{charge_id}", charge_id)
        idempotency = {"Idempotency-Key": str(uuid.uuid4())}
        for _ in range(2):
            assert call("POST", route, path, body=body, headers=idempotency).status == status

    assert call("GET", "/charges", key="sk_test_" + "x" * 40).status == 401  # audited

    # A key revoked after the authorizer read it: POST /charge refuses it in its own first
    # read, or (a body refused before that read) with a read of its own.
    for bad_body in (False, True):
        run_as(recorder, None)
        other = get_container().merchant_service.create_merchant("Revoked Later")
        run_as(recorder, "token")
        other_tokens = [tokenize(api, other.secret_key) for _ in range(2)]
        charge = call("POST", "/charge", body=charge_body(other_tokens[0]), key=other.secret_key)
        assert charge.status == 201
        recorder.function = None  # the operator's revocation, in between
        get_container().merchant_service.revoke_key(other.secret_key)
        recorder.function = "charge"
        body = {"token": "x"} if bad_body else charge_body(other_tokens[1])
        assert call("POST", "/charge", body=body, key=other.secret_key).status == 401
    assert ("charge", grants.UPDATE, "AuthRejections") in recorder.calls
    assert ("charge", grants.GET, "ApiKeys") in recorder.calls

    listed = call("GET", "/events", "/events?limit=2").data["items"]
    assert call("GET", "/events", f"/events?type=charge.failed&starting_after={listed[-1]['id']}")
    assert call("GET", "/events/{event_id}", f"/events/{listed[0]['id']}").status == 200
    with receivers([500]) as (receiver,):
        url = {"url": receiver.url}
        endpoint = call("POST", "/webhook_endpoints", body=url).data
        gone = call("POST", "/webhook_endpoints", body=url).data["id"]
        roll = f"/webhook_endpoints/{endpoint['id']}/roll_secret"
        route = "/webhook_endpoints/{endpoint_id}/roll_secret"
        assert call("POST", route, roll, body={"expire_old_in_hours": 1}).status == 200
        assert call("GET", "/webhook_endpoints").status == 200
        path = f"/webhook_endpoints/{gone}"
        assert call("DELETE", "/webhook_endpoints/{endpoint_id}", path).status == 200

        # POST /token judges a reused key in its commit (a condition on its record), then
        # reads it to say why; POST /webhook_endpoints (idempotent) in its first read.
        for route, body, judged in (
            ("/token", card(), grants.CHECK),
            ("/webhook_endpoints", url, grants.BATCH_GET),
        ):
            run_as(recorder, None)
            other = get_container().merchant_service.create_merchant("Revoked Later")
            assert call("POST", route, body=body, key=other.secret_key).status == 201
            function, recorder.function = recorder.function, None
            get_container().merchant_service.revoke_key(other.secret_key)
            recorder.function = function
            assert call("POST", route, body=body, key=other.secret_key).status == 401
            assert (function, judged, "ApiKeys") in recorder.calls
            if judged == grants.CHECK:
                assert (function, grants.GET, "ApiKeys") in recorder.calls
            assert (function, grants.UPDATE, "AuthRejections") in recorder.calls

        # An event only this test's functions see (the stack's own worker reads the
        # table's stream, where it never was): delivered, refused by the receiver ...
        run_as(recorder, app_model.DELIVERY)
        image = _event_image(get_container(), merchant.merchant_id, endpoint)
        client.lambda_.invoke("deliver_events", {"Records": [image]})
        assert len(receiver.received) == 1
        # ... and retried by the re-driver once due.
        run_as(recorder, "redriver")
        time.sleep(1.2)
        sys.modules["app"].redrive_deliveries(_SCHEDULED, None)
    # (After the receiver: the stack's own worker delivers the ping, to a closed port.)
    ping = f"/webhook_endpoints/{endpoint['id']}/test"
    assert call("POST", "/webhook_endpoints/{endpoint_id}/test", ping).status == 202

    run_as(recorder, "reconciler")
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    client.lambda_.invoke("reconcile_pending", event)
    run_as(recorder, None)

    by_function: dict[str, set[tuple[str, str]]] = {}
    for function, action, resource in recorder.calls:
        by_function.setdefault(function, set()).add((action, resource))
    # Every function with a grant was exercised; one without (the public routes') made no
    # AWS call at all.
    granted = {key for key, grant in grants.GRANTS.items() if grant != grants.Grant()}
    assert granted < {s.key for s in app_model.FUNCTIONS}
    assert set(by_function) == granted, set(by_function)
    denied = sorted(c for c in recorder.calls if not allowed(*c))
    assert denied == [], f"calls the grant table does not allow: {denied}"
    # The key policy requires the merchant and token context on every data-key call.
    assert ("charge", "kms:Decrypt", "card_data_key") in recorder.calls
    assert recorder.contexts and all(
        set(c or {}) == {"merchant_id", "token_id"} for c in recorder.contexts
    )


def test_the_checker_would_refuse_an_ungranted_call() -> None:
    assert not allowed("reads", "kms:Decrypt", "card_data_key")
    assert not allowed("authorizer", grants.PUT, "Tokens")
    assert not allowed("reads", grants.QUERY, "Charges/index/pending")
    assert not allowed("events", grants.GET, "WebhookSecrets")
    assert not allowed("delivery", grants.GET, "Tokens")
    assert allowed("charge", "kms:Decrypt", "card_data_key")
    assert allowed("reconciler", grants.QUERY, "Charges/index/pending")
