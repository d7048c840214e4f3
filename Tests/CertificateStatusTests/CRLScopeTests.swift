import CertificateStatus
import Foundation
import OpenSSLKit
import Synchronization
import TestSupport
import Testing

/// RFC 5280 §5.2.3–§5.2.5, §5.3, §6.3.3: which CRLs may decide a certificate's status.
@Suite("CRL scope", .serialized)
struct CRLScopeTests {
    static let crlURL = "http://127.0.0.1:9/ca.crl"

    /// `StatusFixture`'s CA with extra CRL extension sections in its `ca.cnf`.
    func fixture(revoked: Bool = false) throws -> StatusFixture {
        let fixture = try StatusFixture(revoked: revoked)
        let sections = """

            [idp_ca_only]
            issuingDistributionPoint = critical, @idp_ca_only_section
            [idp_ca_only_section]
            fullname = URI:\(Self.crlURL)
            onlyCA = TRUE
            [idp_user_only]
            issuingDistributionPoint = critical, @idp_user_only_section
            [idp_user_only_section]
            fullname = URI:\(Self.crlURL)
            onlyuser = TRUE
            [idp_elsewhere]
            issuingDistributionPoint = critical, @idp_elsewhere_section
            [idp_elsewhere_section]
            fullname = URI:http://127.0.0.1:9/another.crl
            [idp_reasons]
            issuingDistributionPoint = critical, @idp_reasons_section
            [idp_reasons_section]
            fullname = URI:\(Self.crlURL)
            onlysomereasons = keyCompromise
            [idp_indirect]
            issuingDistributionPoint = critical, @idp_indirect_section
            [idp_indirect_section]
            indirectCRL = TRUE
            [delta]
            2.5.29.27 = critical, DER:02:02:03:E8
            [unknown_critical]
            1.3.6.1.4.1.55555.1 = critical, DER:05:00
            [unknown_noncritical]
            1.3.6.1.4.1.55555.1 = DER:05:00

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: fixture.pki.path("ca.cnf")))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(sections.utf8))
        try handle.close()
        return fixture
    }

    /// A DER CRL with the extensions of section `extensions` (nil: none beyond the CRL number).
    func crl(_ fixture: StatusFixture, _ extensions: String?, name: String) throws -> [UInt8] {
        try fixture.pki.openssl(["ca", "-config", "ca.cnf", "-gencrl", "-out", "\(name).pem"] + (extensions.map { ["-crlexts", $0] } ?? []))
        try fixture.pki.openssl(["crl", "-in", "\(name).pem", "-outform", "DER", "-out", "\(name).der"])
        return try fixture.bytes("\(name).der")
    }

    func outcome(_ fixture: StatusFixture, crl: [UInt8]) async -> StatusOutcome {
        let checker = CertificateStatusChecker(fetcher: MapFetcher(documents: [Self.crlURL: crl]), trustStore: fixture.store)
        return await checker.check(leaf: fixture.leaf, issuer: fixture.ca)
    }

    func refusal(_ outcome: StatusOutcome) -> String? {
        guard case .unknown(let failures) = outcome else { return nil }
        return failures.joined(separator: "; ")
    }

    @Test("a CRL scoped to end-entity certificates or naming the certificate's distribution point decides; harmless extensions are fine")
    func inScope() async throws {
        let fixture = try fixture()
        for section in ["idp_user_only", "unknown_noncritical"] {
            #expect(await outcome(fixture, crl: try crl(fixture, section, name: section)) == .known(.good, .crl(Self.crlURL)), "\(section)")
        }
    }

    @Test(
        "out-of-scope, partial, delta and not-understood CRLs do not decide",
        arguments: [
            ("idp_ca_only", "only CA certificates"), ("idp_elsewhere", "distribution point"), ("idp_reasons", "partitioned by reason"),
            ("idp_indirect", "indirect"), ("delta", "delta CRL"), ("unknown_critical", "critical extension"),
        ])
    func outOfScope(section: String, reason: String) async throws {
        let fixture = try fixture()
        let refused = refusal(await outcome(fixture, crl: try crl(fixture, section, name: section)))
        #expect(refused?.contains(reason) == true, "\(section): \(refused ?? "accepted")")
    }

    @Test("an issuer whose key usage lacks cRLSign cannot vouch for a CRL")
    func crlSignRequired() async throws {
        let fixture = try fixture()
        // The same name and key, re-certified with keyCertSign only.
        try fixture.pki.openssl([
            "req", "-x509", "-new", "-key", "ca.key", "-out", "nocrlsign.pem", "-days", "30", "-subj", "/O=fapid tests/CN=ca",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        ])
        let issuer = try X509Certificate.parsePEM(try fixture.pki.read("nocrlsign.pem"))[0]
        let list = try crl(fixture, nil, name: "plain")
        let checker = CertificateStatusChecker(
            fetcher: MapFetcher(documents: [Self.crlURL: list]), trustStore: try CertificateTrustStore(anchors: [issuer]))
        #expect(refusal(await checker.check(leaf: fixture.leaf, issuer: issuer))?.contains("cRLSign") == true)
        // The original CA certificate (keyCertSign, cRLSign) signs the very same CRL acceptably.
        #expect(await outcome(fixture, crl: list) == .known(.good, .crl(Self.crlURL)))
    }

    @Test("a cached CRL is never replaced by one with a lower CRLNumber")
    func crlNumberNeverGoesBack() async throws {
        let fixture = try fixture()
        let older = try crl(fixture, nil, name: "older")
        try fixture.pki.openssl(["ca", "-config", "ca.cnf", "-revoke", "leaf.pem", "-crl_reason", "keyCompromise"])
        let newer = try crl(fixture, nil, name: "newer")
        let older2 = try CertificateRevocationList(der: older)
        let newer2 = try CertificateRevocationList(der: newer)
        #expect(newer2.mayReplace(older2) && !older2.mayReplace(newer2) && newer2.mayReplace(newer2))

        let fetcher = MapFetcher(documents: [Self.crlURL: newer])
        let checker = CertificateStatusChecker(fetcher: fetcher, trustStore: fixture.store)
        #expect(await checker.check(leaf: fixture.other, issuer: fixture.ca) == .known(.good, .crl(Self.crlURL)))
        // The distribution point now serves the older CRL (replayed, or a lagging mirror); the refresher fetches it.
        fetcher.serve(Self.crlURL, older)
        await checker.refresh(window: 3 * 86_400)
        #expect(fetcher.gets.withLock { $0.count } >= 2)
        // The newer CRL still decides: the leaf is revoked in it and not in the older one.
        guard case .known(.revoked, .crl) = await checker.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("the older CRL replaced the newer one")
            return
        }
    }
}
