"""OpenTelemetry tracing end to end: fapid exports its spans over OTLP/HTTP (JSON encoding) to a collector in
this test (a Python HTTP server), while the test drives every endpoint: PAR, authorize, sign-in and consent,
the token endpoint for every grant, userinfo, introspection, revocation, CIBA with a ping, dynamic registration
and its RFC 7592 management, discovery and the JWKS, with an OCSP responder, a CRL and a client's jwks_uri on
the outgoing side. Every value the test saw that must stay secret (tokens, codes, auth_req_ids, the password,
client assertions, request objects, registration access tokens, the PSU's `sub`) is then looked for in every
byte exported. Without `tracing_otlp_endpoint`, nothing is exported even with OTEL_* variables pointing at it.
On PostgreSQL (with `make test`'s throwaway cluster) store operations are spans too, without their statements."""
import base64
import http.server
import json
import secrets
import threading
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, import_key

from conformance_support import PASSWORD, PSU, Browser, FAPIClient, add_psu_and_resource_server
from conftest import https_server
from revocation_pki import closed_port_url
from test_scale_out import SharedDatabase, postgres_admin_url  # noqa: F401 (a fixture: skips without a cluster)
from tpp import JWT_BEARER, TokenClient, assertion, fresh_key, issue_certificate, register
from test_certificate_status import rpki  # noqa: F401 (a fixture)
from test_keys_rotation import wait_for

RS_DN = "CN=tracing-resource-server,O=Tracing Bank,C=GB"
TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


class Collector:
    """An OTLP/HTTP traces receiver: keeps every body exactly as it arrived, and its JSON."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with collector.lock:
                    collector.bodies.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def raw(self):
        with self.lock:
            return [body for _, _, body in self.bodies]

    def spans(self):
        """(resource attributes, span) for every exported span."""
        found = []
        for body in self.raw():
            for resource_spans in json.loads(body).get("resourceSpans", []):
                resource = attributes(resource_spans.get("resource", {}))
                for scope in resource_spans.get("scopeSpans", []):
                    for span in scope.get("spans", []):
                        for name in ("traceId", "spanId", "parentSpanId"):
                            span[name] = hex_id(span.get(name, ""))
                        found.append((resource, span))
        return found

    def close(self):
        self.server.shutdown()


def hex_id(value):
    """A trace or span id as W3C writes it. swift-otel's http/json encodes ids as protobuf JSON does bytes
    (base64), not as the hex the OTLP JSON mapping asks for; both are accepted here."""
    if not value or (len(value) in (16, 32) and all(c in "0123456789abcdef" for c in value)):
        return value
    return base64.b64decode(value).hex()


def attributes(holder):
    """OTLP JSON attributes as a dict of plain values."""
    values = {}
    for entry in holder.get("attributes", []):
        value = entry["value"]
        values[entry["key"]] = next(iter(value.values())) if value else None
    return values


def traceparent():
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


class Recorder(http.server.BaseHTTPRequestHandler):
    """A TPP's HTTPS endpoint: serves `body` to GETs (a jwks_uri), takes POSTs (a CIBA ping), and keeps the
    headers of everything it was sent."""
    body = b"{}"
    seen = []

    def do_GET(self):
        Recorder.seen.append(("GET", self.path, dict(self.headers), b""))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(Recorder.body)))
        self.end_headers()
        self.wfile.write(Recorder.body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Recorder.seen.append(("POST", self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def recording(make, keep):
    """`make` (a client's assertion maker), keeping every assertion it makes."""
    def made(*args, **kwargs):
        value = make(*args, **kwargs)
        keep(value)
        return value
    return made


@pytest.fixture
def collector():
    receiver = Collector()
    yield receiver
    receiver.close()


def test_every_endpoint_traced_and_no_secret_exported(make_daemon, pki, rpki, collector, tmp_path):
    anchors = tmp_path / "anchors.pem"
    anchors.write_text((pki / "ca.pem").read_text() + (rpki.dir / "ca.pem").read_text())
    daemon = make_daemon(config={"client_ca": str(anchors), "ocsp_timeout_seconds": 2}, env={
        "FAPID_TRACING_OTLP_ENDPOINT": collector.url, "FAPID_TRACING_OTLP_PROTOCOL": "http/json",
        "FAPID_TRACING_SERVICE_NAME": "fapid-tracing-test",
        # Ignored once tracing is on: honoured, they would send every span to stdout instead of the collector.
        "OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"}).start()
    add_psu_and_resource_server(daemon, RS_DN)
    workdir = daemon.workdir
    rs = TokenClient(daemon, issue_certificate(workdir / "certs", "rs", "/C=GB/O=Tracing Bank/CN=tracing-resource-server",
                                               pki / "ca.pem", pki / "ca.key"))
    secret = [PASSWORD, PSU]  # every value that must never be exported

    def keep(*values):
        secret.extend(value for value in values if value)

    # Discovery, JWKS and health, the first continuing the caller's trace.
    discovery_trace, discovery_parent, header = traceparent()
    assert daemon.get("/.well-known/openid-configuration", headers={"traceparent": header, "tracestate": "vendor=1"}).status_code == 200
    for path in ("/.well-known/oauth-authorization-server", "/jwks", "/healthz"):
        assert daemon.get(path).status_code == 200
    # A caller asking not to be sampled (flags 00) is recorded all the same.
    unsampled_trace, _, unsampled = traceparent()
    assert daemon.get("/jwks", headers={"traceparent": unsampled[:-2] + "00"}).status_code == 200

    # Authorization code with PAR, the PSU signing in and consenting, for an mTLS and a private_key_jwt client.
    browser = Browser(daemon)
    token_trace, token_parent, token_header = traceparent()
    interaction = str(uuid.uuid4())
    clients = {}
    for auth in ("mtls", "pkjwt"):
        client = FAPIClient(daemon, pki, workdir, f"trace-{auth}", auth=auth, alg="PS256", method="par")
        client.assertion = recording(client.assertion, keep)
        request, callback, front = client.run_flow(browser)
        keep(callback.params.get("code"), callback.params.get("id_token"), request.verifier, request.sign(), request.state, request.nonce)
        assert front["sub"] == PSU
        form = {"grant_type": "authorization_code", "code": callback.params["code"], "redirect_uri": request.redirect_uri,
                "code_verifier": request.verifier, **client.auth_fields()}
        exchanged = client.http.post("/token", form, headers={"traceparent": token_header, "x-fapi-interaction-id": interaction}
                                     if auth == "mtls" else {})
        assert exchanged.status_code == 200, exchanged.text
        body = exchanged.json()
        keep(body["access_token"], body["refresh_token"], body.get("id_token"))
        refreshed = client.refresh(body["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        keep(refreshed.json()["access_token"], refreshed.json().get("refresh_token"), refreshed.json().get("id_token"))
        assert client.userinfo(refreshed.json()["access_token"]).status_code == 200
        introspected = rs.post("/introspect", {"token": refreshed.json()["access_token"]})
        assert introspected.status_code == 200 and introspected.json()["active"] is True
        assert client.post("/revoke", {"token": refreshed.json()["access_token"], **client.auth_fields()}).status_code == 200
        clients[auth] = client
    for name, value in browser.session.cookies.items():
        keep(value)

    # client_credentials by private_key_jwt with keys at a jwks_uri (an outgoing fetch carrying the trace),
    # and a shared-secret attempt, refused.
    Recorder.seen = []
    tpp_server = https_server(Recorder, pki / "server.pem", pki / "server.key")
    try:
        key = fresh_key("PS256")
        Recorder.body = json.dumps({"keys": [{**key.as_dict(private=False), "kid": "k1"}]}).encode()
        jwks_client = register(daemon, {"token_endpoint_auth_method": "private_key_jwt",
                                        "jwks_uri": f"https://localhost:{tpp_server.server_address[1]}/jwks.json?tenant=t1"})
        tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        jwks_trace, _, jwks_header = traceparent()
        signed = assertion(key, "PS256", jwks_client, daemon.issuer, kid="k1")
        keep(signed)
        issued = tpp.post(
            "/token", {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER, "client_assertion": signed},
            headers={"traceparent": jwks_header})
        assert issued.status_code == 200, issued.text
        keep(issued.json()["access_token"])
        fetched = [headers for method, _, headers, _ in Recorder.seen if method == "GET"]
        assert fetched, "the jwks_uri was not fetched"
        outgoing_parent = {k.lower(): v for k, v in fetched[0].items()}.get("traceparent", "")
        assert outgoing_parent.split("-")[1:2] == [jwks_trace], f"the jwks_uri fetch did not carry the trace: {fetched[0]}"
        client_secret = "shared-" + secrets.token_urlsafe(16)
        keep(client_secret)
        assert tpp.post("/token", {"grant_type": "client_credentials", "client_id": jwks_client},
                        auth=(jwks_client, client_secret)).status_code == 401

        # CIBA: a signed backchannel request, polled while pending, approved by staff, pinged, then redeemed.
        ciba_key = ECKey.generate_key("P-256")
        ciba_client = register(daemon, {
            "client_name": "Call Centre", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
            "grant_types": [CIBA_GRANT], "scope": "openid accounts", "backchannel_token_delivery_mode": "ping",
            "backchannel_client_notification_endpoint": f"https://localhost:{tpp_server.server_address[1]}/ciba",
            "jwks": {"keys": [ciba_key.as_dict(private=False)]}})
        now = int(time.time())
        notification_token = "notify-" + secrets.token_urlsafe(16)
        ciba_request = jwt.encode({"alg": "ES256"}, {
            "iss": ciba_client, "aud": daemon.issuer, "exp": now + 300, "iat": now, "nbf": now, "jti": str(uuid.uuid4()),
            "scope": "openid accounts", "login_hint": PSU, "binding_message": "Trace 42", "client_notification_token": notification_token},
            ciba_key, algorithms=["ES256"])
        keep(notification_token, ciba_request)
        acknowledged = tpp.post("/bc-authorize", {"client_id": ciba_client, "request": ciba_request})
        assert acknowledged.status_code == 200, acknowledged.text
        auth_req_id = acknowledged.json()["auth_req_id"]
        keep(auth_req_id)
        poll = lambda: tpp.post("/token", {"grant_type": CIBA_GRANT, "client_id": ciba_client, "auth_req_id": auth_req_id})
        assert poll().json()["error"] == "authorization_pending"
        pending = json.loads(daemon.fapictl("ciba", "list", "--json").stdout)
        daemon.fapictl("ciba", "approve", next(row["id"] for row in pending if row["binding_message"] == "Trace 42"))
        ping = wait_for(lambda: [entry for entry in Recorder.seen if entry[0] == "POST"], 15, "the CIBA ping")[0]
        ping_headers = {k.lower(): v for k, v in ping[2].items()}
        assert ping_headers["authorization"] == f"Bearer {notification_token}"
        ping_parent = ping_headers.get("traceparent", "")
        assert len(ping_parent.split("-")) == 4, f"the ping carried no trace context: {ping_headers}"
        redeemed = poll()
        assert redeemed.status_code == 200, redeemed.text
        keep(redeemed.json()["access_token"], redeemed.json().get("refresh_token"), redeemed.json().get("id_token"))
    finally:
        tpp_server.shutdown()

    # Dynamic registration (RFC 7591) and management (RFC 7592).
    directory_key = import_key((pki / "directory.key").read_bytes())
    kid = json.loads((pki / "directory.jwks.json").read_text())["keys"][0]["kid"]
    software_key = ECKey.generate_key("P-256")
    statement = jwt.encode({"alg": "PS256", "kid": kid, "typ": "JWT"}, {
        "iss": "fapid development directory", "iat": int(time.time()), "jti": str(uuid.uuid4()), "software_id": "sw-trace",
        "software_client_name": "Trace App", "org_id": "0015800001041RbAAI", "org_name": "Example TPP Ltd",
        "software_roles": ["AISP"], "software_redirect_uris": ["https://tpp.example.com/cb"],
        "software_jwks": {"keys": [software_key.as_dict(private=False)]}}, directory_key, algorithms=["PS256"])
    keep(statement)
    registered = tpp.session.post(daemon.base + "/register", data=json.dumps({
        "software_statement": statement, "redirect_uris": ["https://tpp.example.com/cb"], "scope": "openid accounts",
        "token_endpoint_auth_method": "tls_client_auth", "grant_types": ["client_credentials"]}),
        headers={"Content-Type": "application/json"}, timeout=10)
    assert registered.status_code == 201, registered.text
    registration = registered.json()
    keep(registration["registration_access_token"])
    manage = lambda method, **kwargs: tpp.session.request(method, registration["registration_client_uri"], timeout=10, headers={
        "Authorization": "Bearer " + registration["registration_access_token"], **kwargs.pop("headers", {})}, **kwargs)
    read = manage("GET")
    assert read.status_code == 200, read.text
    update = {name: value for name, value in read.json().items() if name not in ("registration_client_uri", "client_id_issued_at")}
    updated = manage("PUT", data=json.dumps(dict(update, client_name="Renamed Trace App")), headers={"Content-Type": "application/json"})
    assert updated.status_code == 200, updated.text
    keep(updated.json().get("registration_access_token"))
    registration["registration_access_token"] = updated.json().get("registration_access_token", registration["registration_access_token"])
    assert manage("DELETE").status_code == 204

    # Certificate status: one client checked by OCSP, one by CRL (its responder down).
    responder = rpki.responder_url()
    ocsp_cert = rpki.issue("ocsp-client", ocsp_url=responder)
    rpki.start_responder(responder)
    crl_cert = rpki.issue("crl-client", ocsp_url=closed_port_url(), crl_url=rpki.files.url("ca.crl"))
    rpki.publish_crl()
    for name, cert in (("ocsp-client", ocsp_cert), ("crl-client", crl_cert)):
        client_id = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": f"O=Revocation TPP,CN={name}"})
        response = TokenClient(daemon, cert).token(client_id)
        assert response.status_code == 200, response.text
        keep(response.json()["access_token"])

    # Stopping flushes the exporter; every span of the run arrives before the process exits.
    assert daemon.stop() == 0
    spans = collector.spans()
    assert spans, "no span was exported"
    assert {resource.get("service.name") for resource, _ in spans} == {"fapid-tracing-test"}
    names = {span["name"] for _, span in spans}
    expected = {"GET /.well-known/openid-configuration", "GET /.well-known/oauth-authorization-server", "GET /jwks", "GET /healthz",
                "POST /par", "GET /authorize", "POST /authorize/login", "POST /authorize/consent", "POST /token", "GET /userinfo",
                "POST /introspect", "POST /revoke", "POST /bc-authorize", "POST /register", "GET /register/{client_id}",
                "PUT /register/{client_id}", "DELETE /register/{client_id}", "JWKS GET", "OCSP POST", "CRL GET", "CIBA ping POST"}
    assert expected <= names, f"missing spans: {sorted(expected - names)}; got {sorted(names)}"
    assert any(name.startswith("SQLite") and "." in name for name in names), sorted(names)
    # No span of AsyncHTTPClient's own (named by the bare method, holding the URL with its query), neither of the
    # outgoing client nor of the exporter.
    assert not names & {"GET", "POST", "PUT", "DELETE"}, sorted(names)

    server_spans = [span for _, span in spans if span.get("kind") in (2, "SPAN_KIND_SERVER")]
    # W3C trace context from the request is honoured: same trace, the caller's span as parent.
    discovery_span = next(span for span in server_spans if span["name"] == "GET /.well-known/openid-configuration")
    assert discovery_span["traceId"] == discovery_trace and discovery_span["parentSpanId"] == discovery_parent
    assert any(span["traceId"] == unsampled_trace and span["name"] == "GET /jwks" for span in server_spans)
    token_span = next(span for span in server_spans if span["traceId"] == token_trace)
    assert token_span["parentSpanId"] == token_parent and token_span["name"] == "POST /token"
    token_attributes = attributes(token_span)
    assert token_attributes["fapi.interaction_id"] == interaction
    assert token_attributes["oauth.client_id"] == clients["mtls"].client_id
    assert int(token_attributes["http.response.status_code"]) == 200
    children = [span for _, span in spans if span["traceId"] == token_trace and span is not token_span]
    assert any(span["name"].startswith("SQLite") for span in children), "the token request's store operations are not in its trace"
    # Every request span carries its interaction id; the ping's span is the one whose id went out.
    assert all(attributes(span).get("fapi.interaction_id") for span in server_spans)
    ping_span = next(span for _, span in spans if span["name"] == "CIBA ping POST")
    assert ping_parent.split("-")[1:3] == [ping_span["traceId"], ping_span["spanId"]]
    assert any(attributes(span).get("oauth.client_id") == ciba_client for span in server_spans if span["name"] == "POST /bc-authorize")

    # Nothing secret anywhere: not in the bytes as sent, nor in any decoded string.
    raw = b"".join(collector.raw())
    decoded = json.dumps([span for _, span in spans], ensure_ascii=False)
    # The scan sees what is exported: a value known to be on a span is found in the raw bytes.
    assert interaction.encode() in raw and clients["mtls"].client_id.encode() in raw
    leaked = [value for value in secret if value.encode() in raw or value in decoded]
    assert not leaked, f"exported: {[value[:12] + '...' for value in leaked]}"
    for _, span in spans:
        keys = attributes(span).keys()
        assert not any(key.startswith(("url.query", "http.request.header", "http.response.header")) for key in keys), keys
        assert "?" not in span["name"] and not span.get("events"), span
        url = attributes(span).get("url.full")
        assert url is None or "?" not in url, url


def test_nothing_is_exported_unless_configured(make_daemon, pki, collector):
    # The OpenTelemetry variables a tracer would read point at the collector; fapid must not start one.
    daemon = make_daemon(env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url.removesuffix("/v1/traces"),
                              "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.url, "OTEL_TRACES_EXPORTER": "otlp"}).start()
    client_id = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN})
    tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    _, _, header = traceparent()
    for _ in range(3):
        assert tpp.post("/token", {"grant_type": "client_credentials", "client_id": client_id}, headers={"traceparent": header}).status_code == 200
    assert daemon.get("/jwks").status_code == 200
    assert daemon.stop() == 0
    assert collector.raw() == [], "spans were exported with tracing unset"
    assert "tracing on" not in daemon.log.read_text()


def test_postgres_store_operations_are_spans_without_statements(postgres_admin_url, make_daemon, pki, collector):
    shared = SharedDatabase(make_daemon, postgres_admin_url)
    try:
        daemon, = shared.instances(count=1, start=False)
        daemon.env.update({"FAPID_TRACING_OTLP_ENDPOINT": collector.url, "FAPID_TRACING_OTLP_PROTOCOL": "http/json"})
        daemon.start()
        client_id = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN})
        tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        token_trace, _, header = traceparent()
        issued = tpp.post("/token", {"grant_type": "client_credentials", "client_id": client_id}, headers={"traceparent": header})
        assert issued.status_code == 200, issued.text
        access_token = issued.json()["access_token"]
        assert daemon.stop() == 0
    finally:
        shared.close()
    spans = [span for _, span in collector.spans()]
    store = [span for span in spans if attributes(span).get("db.system.name") == "postgresql"]
    assert any(span["traceId"] == token_trace and span["name"].startswith("Postgres") for span in store), sorted({s["name"] for s in spans})
    raw = b"".join(collector.raw())
    for forbidden in (access_token, "SELECT", "INSERT", "UPDATE", "postgres://"):
        assert forbidden.encode() not in raw, forbidden[:16]
