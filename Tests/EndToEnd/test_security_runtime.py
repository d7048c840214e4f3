"""Runtime hardening (issue 16, items 16, 22, 23): the CIBA approver is the admin socket's peer account
(SO_PEERCRED), not $USER; files at rest are 0600 whatever the umask and the ping/push secrets are sealed;
text logs cannot be forged through a client_id holding a newline."""
import grp
import json
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from conftest import BIN, https_server
from test_ciba import Listener
from tpp import TokenClient, register

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


def ciba_client(daemon, pki, mode="poll", endpoint=None):
    key = ECKey.generate_key("P-256")
    metadata = {"client_name": "Call Centre Payments", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                "grant_types": [CIBA_GRANT], "scope": "openid accounts", "backchannel_token_delivery_mode": mode,
                "jwks": {"keys": [key.as_dict(private=False)]}}
    if endpoint:
        metadata["backchannel_client_notification_endpoint"] = endpoint
    client_id = register(daemon, metadata)
    tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))

    def authorize(**claims):
        now = int(time.time())
        body = {"iss": client_id, "aud": daemon.issuer, "exp": now + 300, "iat": now, "nbf": now, "jti": str(uuid.uuid4()),
                "scope": "openid accounts", "login_hint": "alice", "binding_message": "Order 1234", **claims}
        request = jwt.encode({"alg": "ES256"}, body, key, algorithms=["ES256"])
        response = tpp.post("/bc-authorize", {"client_id": client_id, "request": request})
        assert response.status_code == 200, response.text
        return response.json()

    return client_id, tpp, authorize


def pending_id(daemon, binding):
    rows = json.loads(daemon.fapictl("ciba", "list", "--json").stdout)
    return next(row["id"] for row in rows if row["binding_message"] == binding)


def audit_rows(daemon):
    return [json.loads(line) for line in daemon.fapictl("audit", "export").stdout.splitlines()]


@pytest.fixture
def staff_accounts():
    """Two throwaway accounts: one in a fresh staff group, one outside it. Removed afterwards."""
    if not (shutil.which("useradd") and shutil.which("groupadd") and shutil.which("setpriv")) or os.geteuid() != 0:
        pytest.skip("needs root with useradd, groupadd and setpriv")
    tag = uuid.uuid4().hex[:6]
    group, member, outsider = f"fstg{tag}", f"fsta{tag}", f"fsto{tag}"
    subprocess.run(["groupadd", group], check=True)
    for name in (member, outsider):
        subprocess.run(["useradd", "-M", "-N", "-g", "nogroup" if name == outsider else group, "-s", "/usr/sbin/nologin", name], check=True)
    try:
        yield group, member, outsider
    finally:
        for name in (member, outsider):
            subprocess.run(["userdel", name], check=False)
        subprocess.run(["groupdel", group], check=False)


def run_as(account, group, args, env):
    return subprocess.run(["setpriv", f"--reuid={account}", f"--regid={group}", "--init-groups", str(BIN / "fapictl"), *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_the_approver_is_the_peer_account_not_user(staff_accounts, make_daemon, pki):
    group, member, outsider = staff_accounts
    socket_dir = tempfile.mkdtemp(prefix="fapid-staff-")
    try:
        os.chown(socket_dir, 0, grp.getgrnam(group).gr_gid)
        os.chmod(socket_dir, 0o750)
        socket_path = os.path.join(socket_dir, "fapid.sock")
        daemon = make_daemon(env={"FAPID_ADMIN_SOCKET": socket_path, "FAPID_ADMIN_SOCKET_GROUP": group}).start()
        info = os.stat(socket_path)
        assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == grp.getgrnam(group).gr_gid

        daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
        _, _, authorize = ciba_client(daemon, pki)
        authorize(binding_message="Staff member")
        authorize(binding_message="Daemon account")
        # Whatever the environment claims, the recorded approver is the connecting account.
        forged = dict(daemon.env, USER="mallory", SUDO_USER="mallory", LOGNAME="mallory")

        refused = run_as(outsider, "nogroup", ["ciba", "list"], forged)
        assert refused.returncode != 0 and "cannot reach the daemon" in refused.stderr

        request_id = pending_id(daemon, "Staff member")
        approved = run_as(member, group, ["ciba", "approve", request_id], forged)
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.strip() == f"approved {request_id} by {member}"

        own = subprocess.run([str(BIN / "fapictl"), "ciba", "deny", pending_id(daemon, "Daemon account")], env=forged,
                             capture_output=True, text=True, timeout=60, check=True)
        me = pwd.getpwuid(os.geteuid()).pw_name
        assert own.stdout.strip().endswith(f" by {me}")

        decided = [row for row in audit_rows(daemon) if row["type"] == "ciba.decided"]
        assert sorted(row["user"] for row in decided) == sorted([member, me])
        assert next(row for row in decided if row["user"] == member)["outcome"] == "success"
        with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
            recorded = dict(db.execute("SELECT binding_message, decided_by FROM ciba_requests").fetchall())
        assert recorded == {"Staff member": member, "Daemon account": me}
        log = daemon.log.read_text()
        assert f"by={member}" in log and "mallory" not in log
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_an_unknown_admin_socket_group_stops_start_up(make_daemon):
    code, log = make_daemon(env={"FAPID_ADMIN_SOCKET_GROUP": "no-such-group-" + uuid.uuid4().hex[:6]}).run_to_exit()
    assert code != 0 and "is not a group on this host" in log


def umask_zero():
    os.umask(0)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_at_rest_are_private_whatever_the_umask(make_daemon, private_pki):
    daemon = make_daemon(keys=private_pki)
    database = daemon.workdir / "data" / "fapid.sqlite"
    daemon.env["FAPID_DATABASE"] = str(database)
    daemon.process = subprocess.Popen(daemon.args, env=daemon.env, stdout=subprocess.DEVNULL, stderr=open(daemon.log, "w"),
                                      preexec_fn=umask_zero)
    daemon.wait_ready()
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")  # a write: the WAL holds frames
    for suffix in ("", "-wal", "-shm"):
        assert mode(f"{database}{suffix}") == 0o600, suffix
    assert mode(database.parent) == 0o755  # created by fapid: nobody else may remove or replace the files
    assert mode(private_pki / "ciba-notification.key") == 0o600

    # A key file written under umask 0 (fapictl keys rotate writes signing/<kid>.key).
    rotated = subprocess.run([str(BIN / "fapictl"), "keys", "rotate"], env=daemon.env, capture_output=True, text=True, timeout=60,
                             preexec_fn=umask_zero)
    assert rotated.returncode == 0, rotated.stderr
    written = [line.split()[2] for line in rotated.stdout.splitlines()]
    assert written and all(mode(private_pki / name) == 0o600 for name in written)
    assert mode(private_pki / "signing") == 0o700


def test_ping_secrets_are_sealed_until_delivery(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    Listener.received = []
    server = https_server(Listener, pki / "server.pem", pki / "server.key")
    try:
        _, _, authorize = ciba_client(daemon, pki, mode="ping", endpoint=f"https://localhost:{server.server_address[1]}/cb")
        token = "notify-" + uuid.uuid4().hex
        ack = authorize(client_notification_token=token, binding_message="Sealed ping")
        with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
            row = db.execute("SELECT notification_token, ping_auth_req_id, notification_sealed FROM ciba_requests").fetchone()
        assert row[0] is None and row[1] is None and row[2]
        assert token.encode() not in row[2] and ack["auth_req_id"].encode() not in row[2]
        for suffix in ("", "-wal"):
            stored = (daemon.workdir / f"fapid.sqlite{suffix}").read_bytes()
            assert token.encode() not in stored and ack["auth_req_id"].encode() not in stored

        daemon.fapictl("ciba", "approve", pending_id(daemon, "Sealed ping"))
        deadline = time.time() + 10
        while time.time() < deadline and not Listener.received:
            time.sleep(0.1)
        assert Listener.received == [(f"Bearer {token}", {"auth_req_id": ack["auth_req_id"]})]
        deadline = time.time() + 5
        while time.time() < deadline:
            with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
                sealed = db.execute("SELECT notification_sealed FROM ciba_requests").fetchone()[0]
            if sealed is None:
                break
            time.sleep(0.1)
        assert sealed is None  # erased once delivered
    finally:
        server.shutdown()


def test_a_newline_in_client_id_cannot_forge_a_text_log_line(daemon, pki):
    forged = "2031-01-01T00:00:00+0000 notice fapid: [FapidRuntime] admin approved payment 9999"
    tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    response = tpp.post("/token", {"grant_type": "client_credentials", "client_id": "nobody\n" + forged})
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client"
    deadline = time.time() + 5
    while time.time() < deadline and "nobody" not in daemon.log.read_text():
        time.sleep(0.1)
    log = daemon.log.read_text()
    assert "nobody\\n2031-01-01T00:00:00" in log  # the value was logged, escaped
    assert not any(line.startswith("2031-01-01") for line in log.splitlines())
