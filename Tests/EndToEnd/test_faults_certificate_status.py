"""Fault injection on certificate status: the OCSP responder and the CRL server hung (accept the connection,
never answer: slower than any timeout), down (connection refused) and answering garbage. The certificate is
refused (fail closed: 401 invalid_client, docs/certificates.md) within the configured timeouts; with a good CRL
behind a hung responder it is accepted after the OCSP timeout; while many requests wait on a hung responder,
unrelated requests (/jwks, introspection, a token for a certificate with nothing to fetch) stay fast, and the
daemon's threads and connections to the responder do not pile up."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from faults_support import SilentServer, Timed, connections_to, record, thread_count, wait_until
from revocation_pki import closed_port_url
from test_certificate_status import assert_rejected, client_for, rpki, token  # noqa: F401 (rpki: a fixture)
from test_hybrid_flow import TPP_DN
from tpp import TokenClient, register

OCSP_TIMEOUT = 2
# Both sources may each take the timeout; the rest is the margin of a loaded 2-core machine.
BOUND = 2 * OCSP_TIMEOUT + 4


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


def test_hung_down_and_garbage_status_sources_fail_closed_without_exhaustion(make_daemon, pki, rpki, silent, tmp_path):
    anchors = tmp_path / "anchors.pem"
    anchors.write_text((pki / "ca.pem").read_text() + (rpki.dir / "ca.pem").read_text())
    daemon = make_daemon(config={"client_ca": str(anchors), "certificate_status_cache_seconds": 2, "ocsp_timeout_seconds": OCSP_TIMEOUT}).start()
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    dev_client = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN, "scope": "accounts"})
    dev = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    live = dev.token(dev_client, scope="accounts").json()["access_token"]
    (rpki.dir / "garbage.crl").write_bytes(b"this is not a CRL \x30\x82\xff\xff")
    rpki.files.post_body = b"\x30\x03\x0a\x01\x00 and then garbage"
    good_crl = rpki.publish_crl()
    figures = {}

    cases = {
        "hung": dict(ocsp_url=silent.url("ocsp"), crl_url=silent.url("ca.crl")),
        "down": dict(ocsp_url=closed_port_url(), crl_url=closed_port_url("ca.crl")),
        "garbage": dict(ocsp_url=rpki.files.url("ocsp"), crl_url=rpki.files.url("garbage.crl")),
    }
    for name, pointers in cases.items():
        cert = rpki.issue(f"{name}-client", **pointers)
        with Timed() as took:
            assert_rejected(token(daemon, cert, client_for(daemon, f"{name}-client")))
        assert took.seconds < BOUND, (name, took.seconds)
        figures[f"{name}_refused_seconds"] = round(took.seconds, 2)

    # A hung responder in front of a good CRL: accepted once the OCSP timeout passed.
    fallback = rpki.issue("hung-ocsp-good-crl", ocsp_url=silent.url("ocsp"), crl_url=good_crl)
    with Timed() as took:
        response = token(daemon, fallback, client_for(daemon, "hung-ocsp-good-crl"))
    assert response.status_code == 200, response.text
    assert OCSP_TIMEOUT * 0.9 <= took.seconds < BOUND, took.seconds
    figures["hung_ocsp_crl_fallback_seconds"] = round(took.seconds, 2)

    # Many requests waiting on the hung sources at once; the rest of the daemon must not notice.
    wait_until(lambda: silent.open_connections() == 0, BOUND * 2, "the daemon to give up its connections to the hung responder")
    threads_before = thread_count(daemon.process.pid)
    hung = [rpki.issue(f"hung-{n}", ocsp_url=silent.url("ocsp"), crl_url=silent.url("ca.crl")) for n in range(8)]
    hung_ids = [client_for(daemon, f"hung-{n}") for n in range(8)]

    def refused(index):
        with Timed() as took:
            response = token(daemon, hung[index % 8], hung_ids[index % 8])
        return response, took.seconds

    unrelated = []
    with ThreadPoolExecutor(24) as pool:
        waiting = [pool.submit(refused, index) for index in range(24)]
        wait_until(lambda: silent.open_connections() >= 4, BOUND, "requests to reach the hung responder")
        peak_connections = max(silent.open_connections(), connections_to(silent.port))
        threads_peak = thread_count(daemon.process.pid)
        while not all(future.done() for future in waiting):
            for call in (lambda: daemon.get("/jwks"),
                         lambda: dev.post("/introspect", {"token": live}),
                         lambda: dev.token(dev_client, scope="accounts")):
                with Timed() as took:
                    assert call().status_code == 200
                unrelated.append(took.seconds)
            time.sleep(0.05)
        results = [future.result() for future in waiting]
    for response, _ in results:
        assert_rejected(response)
    slowest_refusal = max(seconds for _, seconds in results)
    assert slowest_refusal < BOUND * 2, slowest_refusal  # 24 requests over 8 certificates: at most two rounds of timeouts
    assert max(unrelated) < 1.5, f"an unrelated request took {max(unrelated):.2f} s while the responder hung"
    wait_until(lambda: silent.open_connections() == 0, BOUND * 2, "the daemon to close its connections to the hung responder")
    wait_until(lambda: connections_to(silent.port) == 0, BOUND, "the daemon's sockets to the hung responder to be closed")
    threads_after = thread_count(daemon.process.pid)
    assert threads_peak <= threads_before + 8 and threads_after <= threads_before + 8, (threads_before, threads_peak, threads_after)
    record("certificate_status_faults", concurrent_refused=len(results), slowest_refusal_seconds=round(slowest_refusal, 2),
           unrelated_requests=len(unrelated), unrelated_slowest_seconds=round(max(unrelated), 3), peak_connections_to_hung_responder=peak_connections,
           threads_before=threads_before, threads_peak=threads_peak, threads_after=threads_after, **figures)
