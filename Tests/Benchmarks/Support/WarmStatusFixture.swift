public import CertificateStatus
import Foundation
import OpenSSLKit
import TestSupport

/// A certificate-status checker with a warm cache, for the `cert-status-warm` micro-benchmark
/// (Tests/Benchmarks/CertStatus): a test CA made with `openssl ca`, a leaf naming only a CRL distribution
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
        try pki.makeStatefulCA(leafExtensions: [
            "basicConstraints = CA:FALSE", "extendedKeyUsage = clientAuth", "crlDistributionPoints = URI:http://127.0.0.1:9/ca.crl",
        ])
        try pki.issueWithCA("leaf")
        try pki.makeCRL()
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
