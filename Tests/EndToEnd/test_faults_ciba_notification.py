"""Fault injection on CIBA delivery: a ping client whose notification endpoint accepts TCP and never answers
(the TLS handshake never completes). The ping client still gets its tokens from the token endpoint, a poll
client's flow completes meanwhile, other requests stay fast, the notifier gives up each attempt within the
outbound timeout and retries only after the lease (no pile of threads or connections), and the log says what
happened without the client notification token, the auth_req_id or any token."""
import json
import time
import uuid

from faults_support import SilentServer, Timed, connections_to, open_fds, record, thread_count, wait_until
from test_ciba import CIBAClient, pending_id
from test_hybrid_flow import TPP_DN
from tpp import register

LEASE = 5  # the shortest lease the daemon accepts
REQUESTS = 6


def test_a_notification_endpoint_that_never_answers(make_daemon, pki):
    silent = SilentServer()
    try:
        run(make_daemon, pki, silent)
    finally:
        silent.close()


def run(make_daemon, pki, silent):
    daemon = make_daemon(config={"ciba_notification_lease_seconds": LEASE}).start()
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    ping = CIBAClient(daemon, pki, mode="ping", endpoint=f"https://localhost:{silent.port}/cb")
    poll = CIBAClient(daemon, pki)
    other = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN, "scope": "accounts"})
    threads_before, fds_before = thread_count(daemon.process.pid), open_fds(daemon.process.pid)

    secrets, acks = [], []
    for n in range(REQUESTS):
        notification_token = "notify-" + uuid.uuid4().hex
        response = ping.authorize(ping.signed(client_notification_token=notification_token, binding_message=f"Hung {n}"))
        assert response.status_code == 200, response.text
        acks.append(response.json()["auth_req_id"])
        secrets += [notification_token, acks[-1]]
        daemon.fapictl("ciba", "approve", pending_id(daemon, f"Hung {n}"))
    approved_at = time.monotonic()
    wait_until(lambda: silent.accepted, 10, "the notifier to connect to the endpoint")

    # While notifications hang: a poll client's whole flow, other clients' tokens and the key set, all fast.
    fast = []
    with Timed() as poll_flow:
        ack = poll.authorize(poll.signed(binding_message="Poll meanwhile")).json()
        secrets.append(ack["auth_req_id"])
        daemon.fapictl("ciba", "approve", pending_id(daemon, "Poll meanwhile"))
        tokens = poll.poll(ack["auth_req_id"])
        assert tokens.status_code == 200, tokens.text
        secrets += [tokens.json()["access_token"], tokens.json()["refresh_token"]]
    for _ in range(10):
        for call in (lambda: daemon.get("/jwks"), lambda: poll.tpp.token(other, scope="accounts")):
            with Timed() as took:
                assert call().status_code == 200
            fast.append(took.seconds)
    assert max(fast) < 1.5, max(fast)

    # Watch the notifier for a few leases: attempts are bounded by the lease, never a growing pile.
    peak_open, peak_threads = 0, 0
    deadline = approved_at + 2 * LEASE + 1
    while time.monotonic() < deadline:
        peak_open = max(peak_open, silent.open_connections(), connections_to(silent.port))
        peak_threads = max(peak_threads, thread_count(daemon.process.pid))
        time.sleep(0.2)
    attempts = len(silent.accepted)
    elapsed = time.monotonic() - approved_at
    # At most one attempt per request per lease (plus the first); each attempt ends within the timeout.
    assert attempts <= REQUESTS * (elapsed / LEASE + 2), (attempts, elapsed)
    assert peak_open <= REQUESTS, peak_open
    assert peak_threads <= threads_before + 8, (threads_before, peak_threads)
    assert connections_to(silent.port) <= REQUESTS, connections_to(silent.port)

    # The ping client need not wait for its ping: its tokens are at the token endpoint (CIBA Core §10.2). Redeemed
    # only now, so the notifier had every notification to try while it was watched.
    for auth_req_id in acks:
        response = ping.poll(auth_req_id)
        assert response.status_code == 200, response.text
        secrets.append(response.json()["access_token"])

    log = daemon.log.read_text()
    failed = [line for line in log.splitlines() if "CIBA notification" in line and "failed" in line]
    assert failed, log[-2000:]
    for secret in secrets:
        assert secret not in log, "a secret reached the log"
    assert daemon.get("/healthz").status_code == 200
    record("ciba_notification_hung", ping_requests=REQUESTS, lease_seconds=LEASE, attempts=attempts, watched_seconds=round(elapsed, 1),
           peak_open_connections=peak_open, threads_before=threads_before, threads_peak=peak_threads, poll_flow_seconds=round(poll_flow.seconds, 2),
           other_requests=len(fast), other_slowest_seconds=round(max(fast), 3), fds_before=fds_before, fds_after=open_fds(daemon.process.pid), failed_attempts_logged=len(failed), secrets_in_log=0)
    # The failure log line, as an operator sees it.
    print(json.dumps(failed[0])[:400])
