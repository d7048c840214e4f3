public import CertificateStatus
import Foundation
public import JOSE
import TestSupport

/// A certificate-status checker with a warm cache, for the `cert-status-warm` micro-benchmark
/// (Benchmarks/CertStatus): a test CA made with `openssl ca`, a leaf naming only a CRL distribution
/// point, and that CA's CRL served from memory; the first check fetches and caches, every later one
/// is a cache hit, as for a kept-alive TPP.
public final class WarmStatusFixture: Sendable {
    let pki: TestPKI
    let checker: CertificateStatusChecker
    let leaf: X509Certificate
    let ca: X509Certificate

    struct MemoryFetcher: StatusFetcher {
        let crl: [UInt8]
        func post(_ url: String, body: [UInt8], contentType: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] {
            throw StatusSourceFailure("no OCSP here")
        }
        func get(_ url: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] { crl }
    }

    init(pki: TestPKI, checker: CertificateStatusChecker, leaf: X509Certificate, ca: X509Certificate) {
        self.pki = pki
        self.checker = checker
        self.leaf = leaf
        self.ca = ca
    }

    public static func make() async throws -> WarmStatusFixture {
        let pki = try TestPKI(name: "cert-status-bench")
        let dir = pki.path("")
        try FileManager.default.createDirectory(atPath: pki.path("issued"), withIntermediateDirectories: true)
        try "".write(toFile: pki.path("index.txt"), atomically: true, encoding: .utf8)
        try "01\n".write(toFile: pki.path("serial"), atomically: true, encoding: .utf8)
        try "01\n".write(toFile: pki.path("crlnumber"), atomically: true, encoding: .utf8)
        let config = """
            [ca]
            default_ca = t
            [t]
            dir = \(dir)
            database = $dir/index.txt
            new_certs_dir = $dir/issued
            serial = $dir/serial
            crlnumber = $dir/crlnumber
            certificate = $dir/ca.pem
            private_key = $dir/ca.key
            default_md = sha256
            default_days = 30
            default_crl_days = 1
            policy = p
            [p]
            commonName = supplied
            [leaf]
            basicConstraints = CA:FALSE
            extendedKeyUsage = clientAuth
            crlDistributionPoints = URI:http://127.0.0.1:9/ca.crl

            """
        try config.write(toFile: pki.path("ca.cnf"), atomically: true, encoding: .utf8)
        try pki.makeCA("ca")
        _ = try pki.openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf"])
        _ = try pki.openssl(["ca", "-batch", "-config", "ca.cnf", "-extensions", "leaf", "-in", "leaf.csr", "-out", "leaf.pem", "-notext"])
        _ = try pki.openssl(["ca", "-config", "ca.cnf", "-gencrl", "-out", "ca.crl.pem"])
        _ = try pki.openssl(["crl", "-in", "ca.crl.pem", "-outform", "DER", "-out", "ca.crl"])
        let ca = try X509Certificate.parsePEM(try pki.read("ca.pem"))[0]
        let leaf = try X509Certificate.parsePEM(try pki.read("leaf.pem"))[0]
        let crl = [UInt8](try Data(contentsOf: URL(fileURLWithPath: pki.path("ca.crl"))))
        let checker = CertificateStatusChecker(fetcher: MemoryFetcher(crl: crl), trustStore: try CertificateTrustStore(anchors: [ca]))
        guard case .known(.good, .crl) = await checker.check(leaf: leaf, issuer: ca) else {
            throw StatusSourceFailure("the fixture's CRL did not answer good")
        }
        return WarmStatusFixture(pki: pki, checker: checker, leaf: leaf, ca: ca)
    }

    /// One check, answered from the cache.
    public func check() async -> StatusOutcome {
        await checker.check(leaf: leaf, issuer: ca)
    }

    public func close() {}
}
