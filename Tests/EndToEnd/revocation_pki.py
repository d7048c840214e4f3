"""A CA run with `openssl ca` (index, serials, revocation, CRLs), real `openssl ocsp` responders and a
small HTTP server for CRLs and canned OCSP answers: the peers of the certificate-status tests."""
import http.server
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

CONFIG = """
[ ca ]
default_ca = test_ca

[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 1
policy = anything
unique_subject = no
copy_extensions = none

[ anything ]
commonName = supplied
organizationName = optional
countryName = optional

[ client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
{pointers}

[ subordinate ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
{pointers}

[ responder ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args, cwd):
    result = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{args}: {result.stderr}")
    return result.stdout


class StaticServer:
    """Serves files from a directory on GET, and one fixed body on POST (a canned OCSP response)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.post_body = b""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = outer.directory / self.path.lstrip("/")
                if not path.is_file():
                    self.send_response(404)
                    self.end_headers()
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(outer.post_body)))
                self.end_headers()
                self.wfile.write(outer.post_body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}"

    def close(self):
        self.server.shutdown()


class RevocationPKI:
    def __init__(self, directory: Path, ca: tuple[Path, Path] | None = None):
        """A self-signed root CA, or with `ca` (certificate, key) a CA already issued elsewhere (an intermediate)."""
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "issued").mkdir(exist_ok=True)
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "crlnumber").write_text("1000\n")
        if ca:
            shutil.copy(ca[0], directory / "ca.pem")
            shutil.copy(ca[1], directory / "ca.key")
        else:
            run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
                "-subj", "/O=fapid revocation tests/CN=Revocation Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
        self.files = StaticServer(directory)
        self.responders = []

    def config(self, ocsp_url=None, crl_url=None) -> Path:
        pointers = []
        if ocsp_url:
            pointers.append(f"authorityInfoAccess = OCSP;URI:{ocsp_url}")
        if crl_url:
            pointers.append(f"crlDistributionPoints = URI:{crl_url}")
        path = self.dir / f"ca-{len(list(self.dir.glob('ca-*.cnf')))}.cnf"
        path.write_text(CONFIG.format(dir=self.dir, pointers="\n".join(pointers)))
        return path

    def issue(self, name, ocsp_url=None, crl_url=None, extensions="client"):
        config = self.config(ocsp_url, crl_url)
        run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/O=Revocation TPP/CN={name}", cwd=self.dir)
        run("openssl", "ca", "-batch", "-config", str(config), "-extensions", extensions, "-in", f"{name}.csr", "-out", f"{name}.pem",
            "-notext", cwd=self.dir)
        return self.dir / f"{name}.pem", self.dir / f"{name}.key"

    def revoke(self, certificate: Path, reason="keyCompromise"):
        time.sleep(1.1)  # a running responder reloads the index when its mtime (whole seconds) changes
        run("openssl", "ca", "-config", str(self.config()), "-revoke", str(certificate), "-crl_reason", reason, cwd=self.dir)

    def publish_crl(self, name="ca.crl", seconds=None, extensions=None):
        """Writes a DER CRL served at files.url(name); `seconds` makes it expire that soon; `extensions` is the
        body of an openssl config section of CRL extensions (e.g. an IssuingDistributionPoint)."""
        validity = ["-crlsec", str(seconds)] if seconds else ["-crldays", "1"]
        config = self.config()
        if extensions:
            config.write_text(config.read_text() + f"\n[ crl_extensions ]\n{extensions}\n")
            validity += ["-crlexts", "crl_extensions"]
        run("openssl", "ca", "-config", str(config), "-gencrl", *validity, "-out", f"{name}.pem", cwd=self.dir)
        run("openssl", "crl", "-in", f"{name}.pem", "-outform", "DER", "-out", name, cwd=self.dir)
        return self.files.url(name)

    @staticmethod
    def responder_url():
        """A URL for a responder started later with start_responder(url): issue certificates first, because
        `openssl ocsp` notices index changes only by modification time, in whole seconds."""
        return f"http://127.0.0.1:{free_port()}"

    def start_responder(self, url, signer="ca", key=None):
        """A real `openssl ocsp` responder over the CA's index at `url`, signing as `signer` (a cert name in the CA dir)."""
        time.sleep(1.1)
        port = int(url.rsplit(":", 1)[1])
        process = subprocess.Popen(
            ["openssl", "ocsp", "-index", "index.txt", "-port", str(port), "-rsigner", f"{signer}.pem",
             "-rkey", f"{key or signer}.key", "-CA", "ca.pem", "-nmin", "5", "-ignore_err"],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.responders.append(process)
        # Probe with a real (if useless) request: a bare connect-and-close wedges the single-threaded
        # responder, which then waits on that dead connection.
        if not (self.dir / "probe.req").exists():
            run("openssl", "ocsp", "-issuer", "ca.pem", "-cert", "ca.pem", "-reqout", "probe.req", cwd=self.dir)
        probe = (self.dir / "probe.req").read_bytes()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                request = urllib.request.Request(url, data=probe, headers={"Content-Type": "application/ocsp-request"})
                urllib.request.urlopen(request, timeout=2).read()
                return url
            except urllib.error.HTTPError:
                return url
            except (urllib.error.URLError, ConnectionRefusedError):
                time.sleep(0.05)
        raise RuntimeError("openssl ocsp did not start")

    def canned_response(self, about: Path, nonce=True, next_update_minutes=5) -> bytes:
        """A correctly signed OCSP response for `about`, made for another request (so with another nonce);
        `next_update_minutes=None` leaves out nextUpdate."""
        run("openssl", "ocsp", "-issuer", "ca.pem", "-cert", str(about), "-reqout", "canned.req", *([] if nonce else ["-no_nonce"]), cwd=self.dir)
        validity = ["-nmin", str(next_update_minutes)] if next_update_minutes is not None else []
        run("openssl", "ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-reqin", "canned.req",
            "-respout", "canned.resp", *validity, cwd=self.dir)
        return (self.dir / "canned.resp").read_bytes()

    def stop_responders(self):
        for process in self.responders:
            process.kill()
            process.wait()
        self.responders = []

    def close(self):
        for process in self.responders:
            process.kill()
            process.wait()
        self.files.close()


def closed_port_url(path=""):
    return f"http://127.0.0.1:{free_port()}/{path}"
