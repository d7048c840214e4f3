import CertificateStatus
import Foundation
import OpenSSLKit
import Synchronization
import TestSupport
import Testing

/// A fetcher that answers from memory and counts, with an optional delay to make fetches overlap.
final class CannedFetcher: StatusFetcher {
    let posts = Mutex(0)
    let gets = Mutex(0)
    let ocspBody: Mutex<[UInt8]>
    let crlBody: Mutex<[UInt8]>
    let delay: Duration

    init(ocsp: [UInt8] = [], crl: [UInt8] = [], delay: Duration = .zero) {
        ocspBody = Mutex(ocsp)
        crlBody = Mutex(crl)
        self.delay = delay
    }

    func post(_ url: String, body: [UInt8], contentType: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] {
        posts.withLock { $0 += 1 }
        try? await Task.sleep(for: delay)
        let answer = ocspBody.withLock { $0 }
        if answer.isEmpty { throw StatusSourceFailure("connection refused") }
        return answer
    }

    func get(_ url: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] {
        gets.withLock { $0 += 1 }
        let answer = crlBody.withLock { $0 }
        if answer.isEmpty { throw StatusSourceFailure("connection refused") }
        return answer
    }
}

/// A CA with `openssl ca` state, a leaf with AIA and CRL-DP pointers, its CRL, and an OCSP response for
/// it made by `openssl ocsp` from a request without nonce (so any request's nonce check passes as -1).
struct StatusFixture {
    let pki: TestPKI
    let ca: X509Certificate
    let leaf: X509Certificate
    let other: X509Certificate
    let store: CertificateTrustStore

    init(revoked: Bool = false) throws {
        pki = try TestPKI(name: "status")
        try pki.makeStatefulCA(leafExtensions: [
            "basicConstraints = CA:FALSE", "extendedKeyUsage = clientAuth", "authorityInfoAccess = OCSP;URI:http://127.0.0.1:9/ocsp",
            "crlDistributionPoints = URI:http://127.0.0.1:9/ca.crl",
        ])
        for name in ["leaf", "other"] { try pki.issueWithCA(name) }
        if revoked { try pki.openssl(["ca", "-config", "ca.cnf", "-revoke", "leaf.pem", "-crl_reason", "keyCompromise"]) }
        try pki.makeCRL()
        try pki.openssl(["ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce", "-reqout", "leaf.req"])
        try pki.openssl(["ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-reqin", "leaf.req",
            "-respout", "leaf.resp", "-nmin", "5"])
        ca = try X509Certificate.parsePEM(try pki.read("ca.pem"))[0]
        leaf = try X509Certificate.parsePEM(try pki.read("leaf.pem"))[0]
        other = try X509Certificate.parsePEM(try pki.read("other.pem"))[0]
        store = try CertificateTrustStore(anchors: [ca])
    }

    func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: pki.path(name)))) }
}

@Suite("CertificateStatus", .serialized)
struct CertificateStatusTests {
    @Test("pointers come from AIA and CRL distribution points")
    func pointers() throws {
        let fixture = try StatusFixture()
        let pointers = StatusPointers(of: fixture.leaf)
        #expect(pointers.ocsp == ["http://127.0.0.1:9/ocsp"])
        #expect(pointers.crl == ["http://127.0.0.1:9/ca.crl"])
        #expect(StatusPointers(of: fixture.ca).isEmpty)
    }

    @Test("a good OCSP answer is cached: the second check does no I/O")
    func ocspGoodAndCache() async throws {
        let fixture = try StatusFixture()
        let fetcher = CannedFetcher(ocsp: try fixture.bytes("leaf.resp"))
        let checker = CertificateStatusChecker(fetcher: fetcher, trustStore: fixture.store)
        #expect(await checker.check(leaf: fixture.leaf, issuer: fixture.ca) == .known(.good, .ocsp("http://127.0.0.1:9/ocsp")))
        guard case .known(.good, .cache) = await checker.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("expected a cache hit")
            return
        }
        #expect(fetcher.posts.withLock { $0 } == 1)
        #expect(checker.statistics.cacheHits == 1)
    }

    @Test("concurrent checks of one certificate share one fetch")
    func sharedFetch() async throws {
        let fixture = try StatusFixture()
        let fetcher = CannedFetcher(ocsp: try fixture.bytes("leaf.resp"), delay: .milliseconds(200))
        let checker = CertificateStatusChecker(fetcher: fetcher, trustStore: fixture.store)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { _ = await checker.check(leaf: fixture.leaf, issuer: fixture.ca) } }
        }
        #expect(fetcher.posts.withLock { $0 } == 1)
    }

    @Test("a revoked certificate: per OCSP, and per CRL when OCSP is down")
    func revoked() async throws {
        let fixture = try StatusFixture(revoked: true)
        let viaOCSP = CertificateStatusChecker(fetcher: CannedFetcher(ocsp: try fixture.bytes("leaf.resp")), trustStore: fixture.store)
        guard case .known(.revoked(let reason, let at), .ocsp) = await viaOCSP.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("expected revoked per OCSP")
            return
        }
        #expect(reason == "keyCompromise")
        #expect(at != nil)
        #expect(viaOCSP.isKnownRevoked(thumbprint: fixture.leaf.sha256Thumbprint))

        let viaCRL = CertificateStatusChecker(fetcher: CannedFetcher(crl: try fixture.bytes("ca.crl")), trustStore: fixture.store)
        guard case .known(.revoked(let crlReason, _), .crl) = await viaCRL.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("expected revoked per CRL")
            return
        }
        #expect(crlReason == "keyCompromise")
        #expect(await viaCRL.check(leaf: fixture.other, issuer: fixture.ca) == .known(.good, .crl("http://127.0.0.1:9/ca.crl")))
    }

    @Test("an OCSP answer about another certificate is not trusted; no source at all is unknown")
    func wrongCertificateAndUnknown() async throws {
        let fixture = try StatusFixture()
        let checker = CertificateStatusChecker(fetcher: CannedFetcher(ocsp: try fixture.bytes("leaf.resp")), trustStore: fixture.store)
        guard case .unknown(let failures) = await checker.check(leaf: fixture.other, issuer: fixture.ca) else {
            Issue.record("expected unknown")
            return
        }
        #expect(failures.contains { $0.contains("not about this certificate") })
        #expect(failures.contains { $0.hasPrefix("crl ") })
    }

    @Test("a CRL signed by another CA is refused")
    func foreignCRL() async throws {
        let fixture = try StatusFixture(revoked: true)
        let stranger = try StatusFixture()
        let checker = CertificateStatusChecker(fetcher: CannedFetcher(crl: try stranger.bytes("ca.crl")), trustStore: fixture.store)
        guard case .unknown = await checker.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("a foreign CRL must not decide")
            return
        }
    }

    @Test("policy: fail closed by default, soft-fail per anchor, pointers optional unless required")
    func policy() {
        let unknown = StatusOutcome.unknown(["ocsp x: timeout"])
        #expect(StatusPolicy().decide(unknown, anchorThumbprint: "a") == .reject("status unknown (fail closed): ocsp x: timeout"))
        if case .acceptUnverified = StatusPolicy(anchorModes: ["a": .softFail]).decide(unknown, anchorThumbprint: "a") {} else {
            Issue.record("anchor a soft-fails")
        }
        if case .reject = StatusPolicy(anchorModes: ["a": .softFail]).decide(unknown, anchorThumbprint: "b") {} else {
            Issue.record("anchor b fails closed")
        }
        #expect(StatusPolicy().decide(.known(.good, .ocsp("u")), anchorThumbprint: nil) == .accept)
        if case .reject = StatusPolicy().decide(.known(.revoked(reason: nil, at: nil), .crl("u")), anchorThumbprint: nil) {} else {
            Issue.record("revoked is rejected")
        }
        if case .reject = StatusPolicy(requirePointers: true).decide(.known(.good, .noPointers), anchorThumbprint: nil) {} else {
            Issue.record("pointers required")
        }
    }

    @Test("mutated OCSP responses and CRLs never crash and never pass as good")
    func fuzz() async throws {
        let fixture = try StatusFixture(revoked: true)
        let response = try fixture.bytes("leaf.resp")
        let crl = try fixture.bytes("ca.crl")
        var random = SystemRandomNumberGenerator()
        for round in 0..<600 {
            var ocspMutant = response
            var crlMutant = crl
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let i = Int.random(in: 0..<ocspMutant.count, using: &random)
                ocspMutant[i] ^= UInt8.random(in: 1...255, using: &random)
                let j = Int.random(in: 0..<crlMutant.count, using: &random)
                crlMutant[j] ^= UInt8.random(in: 1...255, using: &random)
            }
            if round % 3 == 0 { ocspMutant = Array(ocspMutant.prefix(Int.random(in: 0..<ocspMutant.count, using: &random))) }
            if round % 4 == 0 { crlMutant = Array(crlMutant.prefix(Int.random(in: 0..<crlMutant.count, using: &random))) }
            let checker = CertificateStatusChecker(fetcher: CannedFetcher(ocsp: ocspMutant, crl: crlMutant), trustStore: fixture.store)
            // The leaf is revoked: a mutant may still be a valid signature-checked answer saying so, or fail;
            // it must never be taken as good.
            if case .known(.good, _) = await checker.check(leaf: fixture.leaf, issuer: fixture.ca) {
                Issue.record("a mutated answer was taken as good (round \(round))")
            }
        }
    }
}
