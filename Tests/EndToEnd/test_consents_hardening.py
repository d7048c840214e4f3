"""Consents hardened: POST /consents is rate limited like /introspect; fapictl JSON output escapes C1
and bidirectional control characters of TPP text; a pass-through pattern must be bounded and free of nested quantifiers."""

import json

from tpp import TokenClient


def test_post_consents_bursts_above_the_address_limit_get_429(make_daemon):
    daemon = make_daemon(env={"FAPID_RATE_LIMIT_ADDRESS_PER_SECOND": "1", "FAPID_RATE_LIMIT_ADDRESS_BURST": "3"}).start()
    anonymous = TokenClient(daemon, None)
    # Respelled paths reach the same route, and the same bucket.
    codes = [anonymous.post(path, {"client_id": "x"}).status_code for path in ["/consents", "/consents/", "//consents"] * 2]
    assert all(code != 429 for code in codes[:3]) and codes[3:] == [429] * 3, codes


from test_consents_admin import PAYMENT, bank  # noqa: E402,F401  (the fixture: consents written into the database)

UNSAFE = ["\u202e", "\u0085", "\u009b", "\u200e", "\u2066"]


def test_fapictl_json_escapes_c1_and_bidi_controls(bank):
    for args in (["consents", "show", "pay-1", "--json"], ["consents", "list", "--json"], ["audit", "export", "--consent", "pay-1"]):
        out = bank.fapictl(*args).stdout
        assert not any(ch in out for ch in UNSAFE) and "\x1b" not in out, (args, out[:300])
    shown = bank.fapictl("consents", "show", "pay-1", "--json").stdout
    assert "\\u202E" in shown
    # The same value parses back.
    assert json.loads(shown)["authorization_details"] == PAYMENT
    listed = json.loads(bank.fapictl("consents", "list", "--json").stdout)
    assert next(row for row in listed if row["consent_id"] == "pay-1")["authorization_details"] == PAYMENT


def test_a_pass_through_pattern_needs_max_length_and_no_nested_quantifiers(make_daemon):
    unbounded = '{"customer_information": {"properties": {"reference": {"type": "string", "pattern": "^[A-Z]+$"}}}}'
    nested = '{"customer_information": {"properties": {"reference": {"type": "string", "maxLength": 35, "pattern": "^(a+)+$"}}}}'
    for schema, words in ((unbounded, ["maxLength", "/properties/reference"]), (nested, ["refused", "/properties/reference"])):
        code, log = make_daemon(env={"FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH": schema}).run_to_exit()
        assert code != 0
        for word in ["authorization_details_pass_through", "customer_information", "pattern", *words]:
            assert word in log, log
    good = '{"customer_information": {"properties": {"reference": {"type": "string", "maxLength": 35, "pattern": "^[A-Z0-9-]+$"}}}}'
    daemon = make_daemon(env={"FAPID_AUTHORIZATION_DETAILS_PASS_THROUGH": good}).start()
    assert "customer_information" in daemon.get("/.well-known/openid-configuration").json()["authorization_details_types_supported"]
