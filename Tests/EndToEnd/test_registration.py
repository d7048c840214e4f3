"""Dynamic registration (RFC 7591/7592, Open Banking UK style) over mTLS, with software statements and
registration requests built and signed by joserfc using the development directory's key."""
import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey, import_key

from tpp import TokenClient, issue_certificate, thumbprint

ORG_ID = "0015800001041RbAAI"
REDIRECT = "https://tpp.example.com/callback"


@pytest.fixture
def directory_key(pki):
    key = import_key((pki / "directory.key").read_bytes())
    kid = json.loads((pki / "directory.jwks.json").read_text())["keys"][0]["kid"]
    return key, kid


@pytest.fixture
def software_key():
    return ECKey.generate_key("P-256")


def ssa(directory_key, software_key, **overrides):
    key, kid = directory_key
    now = int(time.time())
    claims = {
        "iss": "fapid development directory", "iat": now, "jti": str(uuid.uuid4()),
        "software_id": "sw-" + uuid.uuid4().hex[:8], "software_client_name": "Example TPP App", "org_id": ORG_ID,
        "org_name": "Example TPP Ltd", "software_roles": ["AISP", "PISP"], "software_redirect_uris": [REDIRECT, REDIRECT + "?x=1"],
        "software_jwks": {"keys": [software_key.as_dict(private=False)]},
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "PS256", "kid": kid, "typ": "JWT"}, claims, key, algorithms=["PS256"]), claims


def post(daemon, cert, body, content_type="application/json"):
    client = TokenClient(daemon, cert)
    data = json.dumps(body) if content_type == "application/json" else body
    return client.session.post(daemon.base + "/register", data=data, headers={"Content-Type": content_type}, timeout=10)


def manage(daemon, cert, method, url, token, body=None):
    client = TokenClient(daemon, cert)
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return client.session.request(method, url, headers=headers, data=json.dumps(body) if body is not None else None, timeout=10)


def refused(response, code, status=400):
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def tpp_cert(pki):
    return pki / "tpp.pem", pki / "tpp.key"


def test_register_get_a_bound_token_then_manage_and_delete(daemon, pki, tpp_cert, directory_key, software_key):
    statement, claims = ssa(directory_key, software_key)
    response = post(daemon, tpp_cert, {"software_statement": statement, "redirect_uris": [REDIRECT], "scope": "openid accounts",
                                       "token_endpoint_auth_method": "tls_client_auth", "id_token_signed_response_alg": "PS256",
                                       "grant_types": ["authorization_code", "client_credentials"]})
    assert response.status_code == 201, response.text
    registered = response.json()
    client_id = registered["client_id"]
    assert registered["registration_client_uri"] == daemon.issuer + "/register/" + client_id
    assert registered["software_id"] == claims["software_id"] and registered["org_id"] == ORG_ID
    assert registered["client_name"] == "Example TPP App" and registered["redirect_uris"] == [REDIRECT]
    assert registered["tls_client_auth_subject_dn"] == "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
    assert len(registered["registration_access_token"]) >= 43

    token = TokenClient(daemon, tpp_cert).token(client_id, scope="accounts")
    assert token.status_code == 200, token.text
    access_token = token.json()["access_token"]

    url = registered["registration_client_uri"]
    rat = registered["registration_access_token"]
    read = manage(daemon, tpp_cert, "GET", url, rat)
    assert read.status_code == 200 and read.json()["client_id"] == client_id
    refused(manage(daemon, tpp_cert, "GET", url, "wrong-token"), "invalid_token", 401)
    refused(manage(daemon, tpp_cert, "GET", daemon.issuer + "/register/no-such-client", rat), "invalid_token", 401)

    update = dict(read.json(), client_name="Renamed App")
    for member in ("registration_client_uri", "client_id_issued_at"):
        update.pop(member, None)
    refused(manage(daemon, tpp_cert, "PUT", url, rat, dict(update, registration_access_token=rat)), "invalid_request")
    updated = manage(daemon, tpp_cert, "PUT", url, rat, update)
    assert updated.status_code == 200, updated.text
    assert updated.json()["client_name"] == "Renamed App"
    new_rat = updated.json()["registration_access_token"]
    assert new_rat != rat
    refused(manage(daemon, tpp_cert, "GET", url, rat), "invalid_token", 401)

    deleted = manage(daemon, tpp_cert, "DELETE", url, new_rat)
    assert deleted.status_code == 204
    refused(manage(daemon, tpp_cert, "GET", url, new_rat), "invalid_token", 401)
    rs = TokenClient(daemon, tpp_cert)
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", registered["tls_client_auth_subject_dn"])
    assert rs.post("/introspect", {"token": access_token}).json() == {"active": False}
    assert TokenClient(daemon, tpp_cert).token(client_id).status_code == 401


def test_open_banking_registration_request_jwt(daemon, tpp_cert, directory_key, software_key):
    statement, claims = ssa(directory_key, software_key)
    now = int(time.time())
    request = {"iss": claims["software_id"], "aud": daemon.issuer, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()),
               "software_statement": statement, "token_endpoint_auth_method": "private_key_jwt", "scope": "payments",
               "token_endpoint_auth_signing_alg": "ES256", "grant_types": ["client_credentials"]}
    body = jwt.encode({"alg": "ES256"}, request, software_key, algorithms=["ES256"])
    response = post(daemon, tpp_cert, body, content_type="application/jwt")
    assert response.status_code == 201, response.text
    assert response.json()["token_endpoint_auth_method"] == "private_key_jwt"
    # signed by a key that is not the software's
    stranger = ECKey.generate_key("P-256")
    request["jti"] = str(uuid.uuid4())
    forged = jwt.encode({"alg": "ES256"}, request, stranger, algorithms=["ES256"])
    statement2, _ = ssa(directory_key, software_key, software_id=claims["software_id"])
    request["software_statement"] = statement2
    refused(post(daemon, tpp_cert, jwt.encode({"alg": "ES256"}, request, stranger, algorithms=["ES256"]), "application/jwt"),
            "invalid_client_metadata")


def test_software_statement_rules(daemon, tpp_cert, directory_key, software_key):
    unknown_key = (RSAKey.generate_key(2048), directory_key[1])
    statement, _ = ssa(unknown_key, software_key)
    refused(post(daemon, tpp_cert, {"software_statement": statement}), "invalid_software_statement")
    refused(post(daemon, tpp_cert, {"redirect_uris": [REDIRECT]}), "invalid_software_statement")
    expired, _ = ssa(directory_key, software_key, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    refused(post(daemon, tpp_cert, {"software_statement": expired}), "invalid_software_statement")
    once, _ = ssa(directory_key, software_key)
    assert post(daemon, tpp_cert, {"software_statement": once}).status_code == 201
    refused(post(daemon, tpp_cert, {"software_statement": once}), "invalid_software_statement")


def test_metadata_rules(daemon, tpp_cert, directory_key, software_key):
    def attempt(**metadata):
        statement, _ = ssa(directory_key, software_key)
        return post(daemon, tpp_cert, dict(metadata, software_statement=statement))

    refused(attempt(redirect_uris=["https://evil.example/cb"]), "invalid_redirect_uri")
    refused(attempt(id_token_signed_response_alg="RS256"), "invalid_client_metadata")
    refused(attempt(request_object_signing_alg="none"), "invalid_client_metadata")
    refused(attempt(token_endpoint_auth_method="client_secret_basic"), "invalid_client_metadata")
    refused(attempt(scope="accounts fundsconfirmations"), "invalid_client_metadata")
    refused(attempt(response_types=["token"]), "invalid_client_metadata")
    refused(attempt(tls_client_auth_subject_dn="CN=someone-else,O=Example TPP Ltd,C=GB"), "invalid_client_metadata")
    refused(attempt(tls_client_auth_san_dns="bank.example.com"), "invalid_client_metadata")
    # a registration cannot switch off FAPI rules
    response = attempt(fapi=False, token_endpoint_auth_method="private_key_jwt", token_endpoint_auth_signing_alg="RS256")
    refused(response, "invalid_client_metadata")


def test_certificate_must_belong_to_the_organisation(daemon, pki, tmp_path, directory_key, software_key):
    statement, _ = ssa(directory_key, software_key)
    other_org = issue_certificate(tmp_path, "other-org", "/C=GB/O=Other TPP/OU=0015800009999ZZZZZ/CN=other", pki / "ca.pem", pki / "ca.key")
    refused(post(daemon, other_org, {"software_statement": statement}), "unapproved_software_statement")
    # Without a transport certificate the TPP is not authenticated at all (RFC 6749 §5.2).
    refused(post(daemon, None, {"software_statement": statement}), "invalid_client", 401)


def test_discovery_and_content_types(daemon, tpp_cert):
    assert daemon.get("/.well-known/openid-configuration").json()["registration_endpoint"] == daemon.issuer + "/register"
    response = TokenClient(daemon, tpp_cert).session.post(daemon.base + "/register", data="x", headers={"Content-Type": "text/plain"}, timeout=10)
    refused(response, "invalid_request")


PSD2_AI_ONLY = "3033303106060400819827023027301330110607040081982701030c065053505f41490c0846434120546573740c0647422d464341"


def test_eidas_certificate_roles_limit_the_scopes(daemon, pki, tmp_path, directory_key, software_key):
    from tpp import openssl
    directory = tmp_path / "eidas"
    directory.mkdir()
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "qwac.key", cwd=directory)
    openssl("req", "-new", "-key", "qwac.key", "-out", "qwac.csr", "-subj", "/C=GB/O=EU TPP/2.5.4.97=PSDGB-FCA-777777/CN=eu-tpp", cwd=directory)
    (directory / "qwac.ext").write_text(f"basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n1.3.6.1.5.5.7.1.3=DER:{PSD2_AI_ONLY}\n")
    openssl("x509", "-req", "-in", "qwac.csr", "-CA", str(pki / "ca.pem"), "-CAkey", str(pki / "ca.key"), "-CAcreateserial",
            "-out", "qwac.pem", "-days", "30", "-extfile", "qwac.ext", cwd=directory)
    cert = (directory / "qwac.pem", directory / "qwac.key")

    statement, _ = ssa(directory_key, software_key, org_id="777777")
    # The statement allows AISP and PISP, the certificate only PSP_AI: payments are refused.
    refused(post(daemon, cert, {"software_statement": statement, "scope": "payments"}), "invalid_client_metadata")
    # A refused registration uses its statement up (issue 16): the next attempt brings a new one.
    statement, _ = ssa(directory_key, software_key, org_id="777777")
    response = post(daemon, cert, {"software_statement": statement})
    assert response.status_code == 201, response.text
    registered = response.json()
    assert set(registered["scope"].split()) == {"openid", "accounts"}
    assert registered["organization_identifier"] == "PSDGB-FCA-777777"
    assert registered["psd2_competent_authority"] == "GB-FCA"
