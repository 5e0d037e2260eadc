"""A stand-in for chalice_app/app.py with the same Chalice declarations and no logic.

The infra tests build the OpenAPI body and read handlers/schedule from it, so they do not
depend on the real app's runtime dependencies being importable.
"""

from chalice import AuthResponse, Chalice, Rate

app = Chalice(app_name="payments")


@app.authorizer(ttl_seconds=60)
def api_key_authorizer(auth_request):
    return AuthResponse(routes=[], principal_id="stub")


@app.route("/health", methods=["GET"])
def health():
    """Liveness probe."""
    return {"status": "ok"}


@app.route("/token", methods=["POST"], authorizer=api_key_authorizer)
def create_token():
    return {}


@app.route("/charge", methods=["POST"], authorizer=api_key_authorizer)
def create_charge():
    return {}


@app.route("/charge/{charge_id}", methods=["GET"], authorizer=api_key_authorizer)
def get_charge(charge_id):
    return {}


@app.route("/charges", methods=["GET"], authorizer=api_key_authorizer)
def list_charges():
    return {}


@app.route("/refund", methods=["POST"], authorizer=api_key_authorizer)
def create_refund():
    return {}


@app.route("/openapi.json", methods=["GET"])
def openapi_document():
    return {}


@app.schedule(Rate(5, unit=Rate.MINUTES))
def reconcile_pending(event):
    return None
