"""RFC 9396 Rich Authorization Requests, the parts outside the request path: discovery's
`authorization_details_types_supported`, the client metadata `authorization_details_types` (fapictl, dynamic
registration and RFC 7592 update), and the settings `authorization_details_pass_through` and `dual_control`
refusing start-up with the key named when they cannot be used."""
import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, import_key

from tpp import TokenClient

REDIRECT = "https://tpp.example.com/callback"
BUILT_IN = ["account_information", "payment_initiation"]
CUSTOMER_SCHEMA = {
    "type": "object",
    "required": ["type", "claims"],
    "additionalProperties": False,
    "properties": {"type": {"const": "customer_information"}, "claims": {"type": "array", "items": {"enum": ["name", "email"]}}},
}


def software_statement(pki):
    key = import_key((pki / "directory.key").read_bytes())
    kid = json.loads((pki / "directory.jwks.json").read_text())["keys"][0]["kid"]
    software_key = ECKey.generate_key("P-256")
    claims = {
        "iss": "fapid development directory", "iat": int(time.time()), "jti": str(uuid.uuid4()),
        "software_id": "sw-" + uuid.uuid4().hex[:8], "software_client_name": "RAR TPP", "org_id": "0015800001041RbAAI",
        "software_roles": ["AISP", "PISP"], "software_redirect_uris": [REDIRECT],
        "software_jwks": {"keys": [software_key.as_dict(private=False)]},
    }
    return jwt.encode({"alg": "PS256", "kid": kid, "typ": "JWT"}, claims, key, algorithms=["PS256"])


def register(daemon, pki, **metadata):
    body = {"software_statement": software_statement(pki), "redirect_uris": [REDIRECT], "scope": "openid accounts payments",
            "token_endpoint_auth_method": "tls_client_auth", "grant_types": ["authorization_code"], **metadata}
    client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    return client.session.post(daemon.base + "/register", data=json.dumps(body), headers={"Content-Type": "application/json"},
                               timeout=10)


def add_client(daemon, types):
    metadata = {"tls_client_auth_subject_dn": "CN=rar,C=GB", "grant_types": ["authorization_code"],
                "redirect_uris": [REDIRECT], "scope": "openid accounts payments", "authorization_details_types": types}
    return daemon.fapictl("clients", "add", check=False, input_text=json.dumps(metadata))


def test_discovery_lists_the_built_in_types(daemon):
    document = daemon.get("/.well-known/openid-configuration").json()
    assert document["authorization_details_types_supported"] == BUILT_IN
    assert daemon.get("/.well-known/oauth-authorization-server").json()["authorization_details_types_supported"] == BUILT_IN


def test_pass_through_types_are_listed_and_registrable(make_daemon):
    daemon = make_daemon(env={"FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH": json.dumps({"customer_information": CUSTOMER_SCHEMA})}).start()
    supported = daemon.get("/.well-known/openid-configuration").json()["authorization_details_types_supported"]
    assert supported == ["account_information", "customer_information", "payment_initiation"]
    added = add_client(daemon, ["customer_information", "payment_initiation"])
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["authorization_details_types"] == ["customer_information", "payment_initiation"]


def test_fapictl_registers_supported_types_only(daemon):
    added = add_client(daemon, ["payment_initiation", "account_information"])
    assert added.returncode == 0, added.stderr
    client_id = json.loads(added.stdout)["client_id"]
    shown = json.loads(daemon.fapictl("clients", "show", client_id).stdout)
    assert shown["authorization_details_types"] == ["payment_initiation", "account_information"]

    for bad in (["customer_information"], "payment_initiation", ["payment_initiation", "payment_initiation"], [7]):
        refused = add_client(daemon, bad)
        assert refused.returncode != 0 and "authorization_details_types" in refused.stderr, (bad, refused.stderr)

    update = dict(shown, authorization_details_types=["card_payment"])
    result = daemon.fapictl("clients", "update", client_id, check=False, input_text=json.dumps(update))
    assert result.returncode != 0 and "authorization_details_types" in result.stderr


def test_dynamic_registration_and_update_check_the_types(daemon, pki):
    response = register(daemon, pki, authorization_details_types=["payment_initiation"])
    assert response.status_code == 201, response.text
    registered = response.json()
    assert registered["authorization_details_types"] == ["payment_initiation"]

    refused = register(daemon, pki, authorization_details_types=["customer_information"])
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_client_metadata"
    assert "authorization_details_types" in refused.json()["error_description"]
    refused = register(daemon, pki, authorization_details_types="payment_initiation")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"

    # RFC 7592 §2.2: the update replaces the metadata, checked as at registration.
    session = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key")).session
    url, token = registered["registration_client_uri"], registered["registration_access_token"]
    update = {k: v for k, v in registered.items() if k not in ("registration_client_uri", "registration_access_token", "client_id_issued_at")}

    def put(body, token):
        return session.put(url, data=json.dumps(body), timeout=10,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    bad = put(dict(update, authorization_details_types=["card_payment"]), token)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client_metadata", bad.text
    good = put(dict(update, authorization_details_types=["payment_initiation", "account_information"]), token)
    assert good.status_code == 200, good.text
    assert good.json()["authorization_details_types"] == ["payment_initiation", "account_information"]


@pytest.mark.parametrize("env, words", [
    ({"FAPID_DUAL_CONTROL": '{"payment_initiation": {"approvals_required": 0}}'}, ["dual_control", "approvals_required"]),
    ({"FAPID_DUAL_CONTROL": '{"payment_initiation": {"above_amount": {"currency": "GBP", "amount": 100}, "approvals_required": 2}}'},
     ["dual_control", "above_amount"]),
    ({"FAPID_DUAL_CONTROL": '{"card_payment": {"approvals_required": 2}}'}, ["dual_control"]),
    ({"FAPID_DUAL_CONTROL": "two please"}, ["dual_control"]),
    ({"FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH": '{"customer_information": {"type": "object", "oneOf": []}}'},
     ["authorization_details_pass_through", "oneOf"]),
    ({"FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH": '{"customer_information": {"pattern": "("}}'},
     ["authorization_details_pass_through", "pattern"]),
    ({"FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH": '{"payment_initiation": true}'}, ["authorization_details_pass_through"]),
])
def test_bad_settings_refuse_start_up_naming_the_key(make_daemon, env, words):
    code, log = make_daemon(env=env).run_to_exit()
    assert code != 0
    for word in words:
        assert word in log, log


def test_settings_from_the_configuration_file(make_daemon):
    config = {"authorization_details_pass_through": {"customer_information": CUSTOMER_SCHEMA},
              "dual_control": {"payment_initiation": {"above_amount": {"currency": "GBP", "amount": "100.00"}, "approvals_required": 2},
                               "customer_information": {"approvals_required": 3}}}
    daemon = make_daemon(config=config).start()
    assert "customer_information" in daemon.get("/.well-known/openid-configuration").json()["authorization_details_types_supported"]
    code, log = make_daemon(config={"dual_control": {"payment_initiation": {"approvals_required": 11}}}).run_to_exit()
    assert code != 0 and "dual_control" in log
