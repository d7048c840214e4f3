"""Issue 19 review fixes (helper 19b): POST /consents is rate limited like /introspect."""

from tpp import TokenClient


def test_post_consents_bursts_above_the_address_limit_get_429(make_daemon):
    daemon = make_daemon(env={"FAPID_RATE_LIMIT_ADDRESS_PER_SECOND": "1", "FAPID_RATE_LIMIT_ADDRESS_BURST": "3"}).start()
    anonymous = TokenClient(daemon, None)
    # Respelled paths reach the same route, and the same bucket.
    codes = [anonymous.post(path, {"client_id": "x"}).status_code for path in ["/consents", "/consents/", "//consents"] * 2]
    assert all(code != 429 for code in codes[:3]) and codes[3:] == [429] * 3, codes
