import AuthorizationServer
import FapidRuntime
import Foundation
import OpenSSLKit
import TestSupport
import Testing
import JOSE

/// The contract of the PSU sign-in counters and of the bounded, promptly swept interactions, run against
/// memory, SQLite and PostgreSQL. On PostgreSQL each concurrent call is
/// its own transaction on its own connection, as two instances' would be.
@Suite("PSU throttling store contract")
struct PSUThrottleContractTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Every backend, memory included.
    typealias Subject = Backend

    func store(_ subject: Subject) async throws -> (any SignInAttemptStore, Fixture?) {
        let fixture = try await Fixture.open(subject)
        return (fixture.storage.signInAttempts, fixture)
    }

    @Test("50 concurrent failures of one key each see a distinct count; a window restarts once ended", arguments: Subject.available)
    func counts(subject: Subject) async throws {
        let (store, fixture) = try await store(subject)
        defer { withExtendedLifetime(fixture) {} }
        let key = Crypto.sha256("user:alice")
        let seen = ConcurrentCounts()
        _ = await concurrently(50) { _ in
            let counts = try await store.countSignInAttempt(keys: [key, Crypto.sha256("address:192.0.2.1")], now: self.t0, window: 300)
            await seen.add(counts[0].failures)
            return counts[0].windowEnds == self.t0.addingTimeInterval(300)
        }
        #expect(await seen.values.sorted() == Array(1...50))
        // Later in the window: the window stays where it was.
        let later = try await store.countSignInAttempt(keys: [key], now: t0.addingTimeInterval(100), window: 300)
        #expect(later == [SignInAttemptCount(failures: 51, windowEnds: t0.addingTimeInterval(300))])
        // A success takes one back, in the window only.
        try await store.forgiveSignInAttempt(keys: [key], now: t0.addingTimeInterval(101))
        #expect(try await store.countSignInAttempt(keys: [key], now: t0.addingTimeInterval(102), window: 300)[0].failures == 51)
        // Once the window has ended the count starts again, with a new window.
        let fresh = try await store.countSignInAttempt(keys: [key], now: t0.addingTimeInterval(300), window: 300)
        #expect(fresh == [SignInAttemptCount(failures: 1, windowEnds: t0.addingTimeInterval(600))])
    }

    @Test("counters whose window has ended are swept; others stay", arguments: Subject.available)
    func sweep(subject: Subject) async throws {
        let (store, fixture) = try await store(subject)
        defer { withExtendedLifetime(fixture) {} }
        _ = try await store.countSignInAttempt(keys: [Crypto.sha256("a"), Crypto.sha256("b")], now: t0, window: 300)
        _ = try await store.countSignInAttempt(keys: [Crypto.sha256("c")], now: t0.addingTimeInterval(100), window: 300)
        #expect(try await store.sweepSignInAttempts(now: t0.addingTimeInterval(299)) == 0)
        #expect(try await store.sweepSignInAttempts(now: t0.addingTimeInterval(300)) == 2)
        #expect(try await store.countSignInAttempt(keys: [Crypto.sha256("c")], now: t0.addingTimeInterval(301), window: 300)[0].failures == 2)
    }

    func interaction(_ name: String, uri: String?, at created: Date, lifetime: TimeInterval = 600) throws -> PSUInteraction {
        let request = try AuthorizationRequest(json: .object([
            "client_id": "c1", "response_type": "code id_token", "redirect_uri": "https://tpp.example/cb", "scope": "openid accounts",
            "nonce": "n", "state": "s", "code_challenge": .string(Base64URL.encode(Crypto.sha256("verifier"))), "code_challenge_method": "S256",
        ]))
        return PSUInteraction(
            idHash: Crypto.sha256(name), clientID: "c1", request: request, requestURIHash: uri.map { Crypto.sha256($0) },
            csrfHash: Crypto.sha256("csrf-" + name), createdAt: created, expiresAt: created.addingTimeInterval(lifetime))
    }

    @Test("of 30 concurrent interactions for one request_uri 10 are stored; others and requests by value are not bounded", arguments: Backend.available)
    func boundedInteractions(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.interactions
        let stored = await concurrently(30) { index in
            try await store.insertInteraction(try self.interaction("i\(index)", uri: "urn:one", at: self.t0), livePerRequestURI: 10)
        }
        #expect(stored == 10)
        #expect(try await store.insertInteraction(try interaction("other", uri: "urn:two", at: t0), livePerRequestURI: 10))
        for index in 0..<12 {
            #expect(try await store.insertInteraction(try interaction("byvalue\(index)", uri: nil, at: t0), livePerRequestURI: 10))
        }
        // Expired ones no longer count.
        #expect(try await store.insertInteraction(try interaction("late", uri: "urn:one", at: t0.addingTimeInterval(600)), livePerRequestURI: 10))
    }

    @Test("expired interactions and sessions are swept at once, without the tokens' retention", arguments: Backend.available)
    func promptSweep(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.interactions
        try await store.insertInteraction(try interaction("old", uri: "urn:one", at: t0, lifetime: 600))
        try await store.insertInteraction(try interaction("new", uri: "urn:one", at: t0.addingTimeInterval(300), lifetime: 600))
        try await store.insertSession(PSUSession(idHash: Crypto.sha256("s"), username: "alice", authTime: t0, expiresAt: t0.addingTimeInterval(600)))
        #expect(try await store.sweepExpiredInteractions(now: t0.addingTimeInterval(599)) == 0)
        #expect(try await store.sweepExpiredInteractions(now: t0.addingTimeInterval(600)) == 2)
        // Still inside the store's freshness rule: the young one stays, the old one is gone (read as of before expiry).
        #expect(try await store.interaction(idHash: Crypto.sha256("old"), now: t0) == nil)
        #expect(try await store.interaction(idHash: Crypto.sha256("new"), now: t0.addingTimeInterval(601)) != nil)
    }
}

actor ConcurrentCounts {
    var values: [Int] = []
    func add(_ value: Int) { values.append(value) }
}
