import CertificateStatus
import Foundation
import TestSupport
import Testing
import OpenSSLKit

/// RFC 6960 §3.2, §4.2.2.1, §4.4.1; RFC 5019 §4: a signed OCSP answer must not be replayable for ever.
@Suite("OCSP replay", .serialized)
struct OCSPReplayTests {
    /// An issuer-signed answer without nextUpdate (`openssl ocsp` without -nmin/-ndays) and without nonce.
    func answerWithoutNextUpdate(_ fixture: StatusFixture) throws -> [UInt8] {
        try fixture.pki.openssl(["ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-reqin", "leaf.req",
            "-respout", "open.resp"])
        return try fixture.bytes("open.resp")
    }

    func checker(
        _ fetcher: any StatusFetcher, _ fixture: StatusFixture, at time: Date, configure: (inout CertificateStatusChecker.Settings) -> Void = { _ in }
    ) -> CertificateStatusChecker {
        var settings = CertificateStatusChecker.Settings()
        settings.maximumOCSPAge = 3600
        settings.skew = 60
        configure(&settings)
        return CertificateStatusChecker(fetcher: fetcher, trustStore: fixture.store, settings: settings, now: { time })
    }

    @Test("an answer without nextUpdate is good while young, refused once older than the maximum age")
    func maximumAgeWithoutNextUpdate() async throws {
        let fixture = try StatusFixture()
        let answer = try answerWithoutNextUpdate(fixture)
        let young = checker(CannedFetcher(ocsp: answer), fixture, at: Date().addingTimeInterval(600))
        #expect(await young.check(leaf: fixture.leaf, issuer: fixture.ca) == .known(.good, .ocsp("http://127.0.0.1:9/ocsp")))
        // Two hours later the same signed bytes are a replay: OCSP is refused, and the (absent) CRL decides.
        let replayed = checker(CannedFetcher(ocsp: answer), fixture, at: Date().addingTimeInterval(7200))
        guard case .unknown(let failures) = await replayed.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("a two-hour-old answer without nextUpdate was accepted")
            return
        }
        #expect(failures.contains { $0.contains("older than the maximum age") })
        // An answer with nextUpdate is judged by its nextUpdate, not by the maximum age.
        let bounded = checker(CannedFetcher(ocsp: try fixture.bytes("leaf.resp")), fixture, at: Date().addingTimeInterval(120)) {
            $0.maximumOCSPAge = 1
        }
        #expect(await bounded.check(leaf: fixture.leaf, issuer: fixture.ca) == .known(.good, .ocsp("http://127.0.0.1:9/ocsp")))
    }

    @Test("validity is judged at the checker's clock: nextUpdate past by more than the skew is refused")
    func validityAtTheCheckersClock() async throws {
        let fixture = try StatusFixture()
        // leaf.resp has nextUpdate = now + 5 min; at now + 10 min (skew 60 s) it is stale.
        let late = checker(CannedFetcher(ocsp: try fixture.bytes("leaf.resp")), fixture, at: Date().addingTimeInterval(600))
        guard case .unknown(let failures) = await late.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("a stale answer was accepted")
            return
        }
        #expect(failures.contains { $0.contains("nextUpdate passed") })
        let early = checker(CannedFetcher(ocsp: try fixture.bytes("leaf.resp")), fixture, at: Date().addingTimeInterval(-600))
        guard case .unknown(let early) = await early.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("an answer from the future was accepted")
            return
        }
        #expect(early.contains { $0.contains("thisUpdate in the future") })
    }

    @Test("with nonces required, an answer without our nonce is refused and one echoing it is accepted")
    func requiredNonce() async throws {
        let fixture = try StatusFixture()
        let now = Date()
        // leaf.resp was made for a request without nonce: fine by default, refused when nonces are required.
        let lenient = checker(CannedFetcher(ocsp: try fixture.bytes("leaf.resp")), fixture, at: now)
        #expect(await lenient.check(leaf: fixture.leaf, issuer: fixture.ca) == .known(.good, .ocsp("http://127.0.0.1:9/ocsp")))
        let strict = checker(CannedFetcher(ocsp: try fixture.bytes("leaf.resp")), fixture, at: now) { $0.requireOCSPNonce = true }
        guard case .unknown(let failures) = await strict.check(leaf: fixture.leaf, issuer: fixture.ca) else {
            Issue.record("an answer without nonce was accepted although nonces are required")
            return
        }
        #expect(failures.contains { $0.contains("without our nonce") })
        // A responder answering the request actually sent echoes its nonce.
        let live = checker(MapFetcher(ocsp: .live(fixture.pki, nextUpdateMinutes: 5)), fixture, at: now) { $0.requireOCSPNonce = true }
        #expect(await live.check(leaf: fixture.leaf, issuer: fixture.ca) == .known(.good, .ocsp("http://127.0.0.1:9/ocsp")))
    }

    @Test("nonces required per trust anchor; a cached answer got without nonce does not satisfy that anchor")
    func requiredNoncePerAnchor() async throws {
        let fixture = try StatusFixture()
        let fetcher = CannedFetcher(ocsp: try fixture.bytes("leaf.resp"))
        let other = checker(fetcher, fixture, at: Date()) { $0.nonceRequiringAnchors = ["some other anchor"] }
        #expect(await other.check(chain: [fixture.leaf, fixture.ca]) == [.known(.good, .ocsp("http://127.0.0.1:9/ocsp"))])

        let strict = checker(fetcher, fixture, at: Date()) { $0.nonceRequiringAnchors = [fixture.ca.sha256Thumbprint] }
        // Warm the cache without the requirement (e.g. `check(leaf:issuer:)` from elsewhere), then check the chain.
        #expect(await strict.check(leaf: fixture.leaf, issuer: fixture.ca, requireNonce: false) == .known(.good, .ocsp("http://127.0.0.1:9/ocsp")))
        let outcomes = await strict.check(chain: [fixture.leaf, fixture.ca])
        guard outcomes.count == 1, case .unknown(let failures) = outcomes[0] else {
            Issue.record("the anchor requires nonces: \(outcomes)")
            return
        }
        #expect(failures.contains { $0.contains("without our nonce") })
    }
}
