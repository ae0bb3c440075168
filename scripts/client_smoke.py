"""Smoke test of a Python client generated from flowhook's /openapi.json.

Run by scripts/client-smoke.sh with the generated package (`flowhook_client`)
on PYTHONPATH:

    client_smoke.py BASE_URL ADMIN_TOKEN_FILE

Every call to flowhook goes through the generated client: create an account
(admin token), then with the account's key create a default webhook pointing
at a receiver on loopback, save a flow with `webhook_on_complete`, start an
execution and wait for it, and read the flow-end delivery until it is
delivered. The assertions are on the typed fields of the generated models; the
receiver checks that the message it got is the delivery's payload, signed
with the webhook's secret.
"""

import base64
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import typing

from flowhook_client import AuthenticatedClient
from flowhook_client.api.accounts import create_account
from flowhook_client.api.deliveries import get_delivery, list_deliveries
from flowhook_client.api.executions import get_execution, start_execution
from flowhook_client.api.flows import create_flow
from flowhook_client.api.webhooks import create_webhook
from flowhook_client.models import (
    CreatedAccount,
    DeliveryView,
    ExecutionView,
    Saved,
    WebhookView,
)

CONTACT = "+15550100"
DELIVERY_DEADLINE_SECONDS = 30


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def body_for(endpoint, data):
    """The request body `data` as the generated model `endpoint` takes.

    The model class is read from the endpoint's signature, so the test is
    written against the wire shape, not against the names the generator gives
    to inline schemas. Checks that the model keeps everything it was given.
    """
    hint = typing.get_type_hints(endpoint.sync_detailed)["body"]
    candidates = [hint] if hasattr(hint, "from_dict") else list(typing.get_args(hint))
    errors = []
    for cls in candidates:
        if not hasattr(cls, "from_dict"):
            continue
        try:
            model = cls.from_dict(data)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            errors.append(f"{cls.__name__}: {e!r}")
            continue
        lost = missing(data, model.to_dict())
        check(not lost, f"{cls.__name__} loses {lost} of {json.dumps(data)}")
        return model
    raise AssertionError(f"no body model of {endpoint.__name__} takes {data}: {errors}")


def missing(want, got, path="$"):
    """Where `got` lacks or changes something of `want` (extra keys are fine:
    a model may fill in documented defaults)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path]
        out = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{path}.{k}")
            else:
                out += missing(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [path]
        return [
            p
            for i, (w, g) in enumerate(zip(want, got))
            for p in missing(w, g, f"{path}[{i}]")
        ]
    return [] if want == got and type(want) is type(got) else [path]


def expect(response, status, cls):
    """The parsed answer, checked to be a `cls` with HTTP `status`."""
    check(
        response.status_code == status and isinstance(response.parsed, cls),
        f"wanted {status} {cls.__name__}, got {int(response.status_code)} "
        f"{type(response.parsed).__name__}: {response.content[:500]!r}",
    )
    return response.parsed


def as_dict(value):
    """A free-form object field of a model, as plain JSON."""
    return value.to_dict() if hasattr(value, "to_dict") else dict(value)


class Receiver(http.server.ThreadingHTTPServer):
    """Records every POST; answers 200 with a small JSON body."""

    def __init__(self):
        self.received = []
        self.got_one = threading.Event()
        super().__init__(("127.0.0.1", 0), ReceiverHandler)


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        answer = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.server.got_one.set()

    def log_message(self, *args):
        pass


def verify_signature(secret, headers, body):
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.body))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    sigs = headers["webhook-signature"].split()
    check(f"v1,{want}" in sigs, f"no valid signature among {sigs}")


def main(base_url, admin_token_file):
    with open(admin_token_file) as f:
        admin_token = f.read().strip()
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    receiver_url = f"http://127.0.0.1:{receiver.server_address[1]}/flow-end"

    admin = AuthenticatedClient(
        base_url=base_url, token=admin_token, raise_on_unexpected_status=True
    )
    account = expect(
        create_account.sync_detailed(
            client=admin,
            body=body_for(create_account, {"name": "smoke", "allow_http": True}),
        ),
        201,
        CreatedAccount,
    )
    check(account.name == "smoke", f"account name {account.name!r}")
    check(account.allow_http is True, "allow_http not set")
    check(len(account.security_id) == 64, "security_id is not 64 characters")
    print(f"account {account.id} created")

    api = AuthenticatedClient(
        base_url=base_url, token=account.security_id, raise_on_unexpected_status=True
    )
    webhook = expect(
        create_webhook.sync_detailed(
            client=api,
            body=body_for(
                create_webhook,
                {
                    "name": "smoke receiver",
                    "method": "POST",
                    "url": receiver_url,
                    "auth": {"type": "none"},
                    "body_type": "json",
                    "is_default": True,
                },
            ),
        ),
        201,
        WebhookView,
    )
    check(webhook.is_default is True, "webhook is not the default")
    check(str(webhook.url) == receiver_url, f"webhook url {webhook.url!r}")
    check(str(webhook.method) == "POST", f"webhook method {webhook.method!r}")
    secret = webhook.signing_secret
    check(
        isinstance(secret, str) and secret.startswith("whsec_"),
        "no signing secret on creation",
    )
    print(f"webhook {webhook.id} created, pointing at {receiver_url}")

    flow_document = {
        "name": "smoke_flow",
        "channel": "voice",
        "webhook_on_complete": True,
        "start": "set",
        "widgets": {
            "set": {
                "type": "store_variable",
                "assign": {"$flow.key.greeting": "hello $user.syskey.contactNumber"},
                "lines": [None],
            }
        },
    }
    saved = expect(
        create_flow.sync_detailed(
            client=api, body=body_for(create_flow, flow_document)
        ),
        201,
        Saved,
    )
    check(len(saved.id) == 8 and saved.id.isalnum(), f"flow id {saved.id!r}")
    check(saved.name == "smoke_flow", f"flow name {saved.name!r}")
    check(saved.version >= 1, f"flow version {saved.version}")
    print(f"flow {saved.id} saved (version {saved.version})")

    execution = expect(
        start_execution.sync_detailed(
            id=saved.id,
            client=api,
            body=body_for(start_execution, {"contact": CONTACT, "wait": True}),
        ),
        200,
        ExecutionView,
    )
    check(
        str(execution.status) == "completed",
        f"execution {execution.status}: {execution.reason}",
    )
    check(str(execution.flow_id) == saved.id, f"execution flow {execution.flow_id}")
    check(execution.contact == CONTACT, f"execution contact {execution.contact!r}")
    greeting = as_dict(execution.variables).get("$flow.key.greeting")
    check(greeting == f"hello {CONTACT}", f"$flow.key.greeting is {greeting!r}")
    uuid = str(execution.uuid)
    again = expect(
        get_execution.sync_detailed(uuid=uuid, client=api), 200, ExecutionView
    )
    check(
        str(again.status) == "completed" and again.trace,
        "execution not readable with its trace",
    )
    print(f"execution {uuid} completed")

    deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
    while True:
        listed = expect(list_deliveries.sync_detailed(client=api), 200, list)
        mine = [
            d
            for d in listed
            if isinstance(d, DeliveryView) and str(d.execution_id) == uuid
        ]
        check(
            len(mine) <= 1, f"{len(mine)} deliveries for one execution with one webhook"
        )
        if mine and str(mine[0].status) == "delivered":
            break
        check(
            not mine or str(mine[0].status) != "failed",
            f"delivery failed: {mine and mine[0].last_error}",
        )
        check(
            time.monotonic() < deadline,
            f"no delivered delivery after {DELIVERY_DEADLINE_SECONDS}s: {mine}",
        )
        time.sleep(0.2)
    listed_one = mine[0]
    delivery = expect(
        get_delivery.sync_detailed(id=str(listed_one.id), client=api), 200, DeliveryView
    )
    check(str(delivery.status) == "delivered", f"delivery {delivery.status}")
    check(
        str(delivery.webhook_id) == str(webhook.id),
        f"delivery went to {delivery.webhook_id}",
    )
    check(delivery.delivered_at, "delivered_at not set")
    check(
        delivery.attempt_count >= 1
        and len(delivery.attempts) == delivery.attempt_count,
        "attempts missing",
    )
    check(
        delivery.attempts[-1].status == 200,
        f"last attempt answered {delivery.attempts[-1].status}",
    )
    payload = as_dict(delivery.payload)
    check(
        payload.get("phonon-uuid") == uuid,
        f"payload phonon-uuid {payload.get('phonon-uuid')!r}",
    )
    check(
        {"name": "$flow.key.greeting", "value": f"hello {CONTACT}"}
        in payload.get("keys", []),
        f"payload keys {payload.get('keys')!r}",
    )
    print(f"delivery {delivery.id} delivered in {delivery.attempt_count} attempt(s)")

    check(receiver.got_one.wait(5), "the receiver got nothing")
    posts = [
        r
        for r in receiver.received
        if r["headers"].get("webhook-id") == delivery.msg_id
    ]
    check(
        posts,
        f"no request with webhook-id {delivery.msg_id} among {len(receiver.received)}",
    )
    got = posts[-1]
    check(got["path"] == "/flow-end", f"receiver path {got['path']}")
    check(
        got["headers"].get("content-type", "").startswith("application/json"),
        "not sent as JSON",
    )
    check(
        json.loads(got["body"]) == payload,
        "the receiver got another document than the delivery's payload",
    )
    verify_signature(secret, got["headers"], got["body"])
    print("receiver got the flow-end message, signed with the webhook's secret")

    receiver.shutdown()
    print("client smoke test passed")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL ADMIN_TOKEN_FILE")
    main(sys.argv[1], sys.argv[2])
