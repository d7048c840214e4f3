import AuthorizationServer
import FapidRuntime
import Foundation
import OpenSSLKit
import Logging
import SQLiteStorage
import TestSupport
import Testing
import JOSE

@Suite("ExpirySweeper")
struct ExpirySweeperTests {
    @Test("one pass removes an interaction and a sign-in counter as soon as they expire, not an hour later")
    func promptly() async throws {
        let directory = try TestPKI(name: "sweeper")
        let database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
        try SQLiteMigrator(directory: Shell.repositoryRoot.appendingPathComponent("migrations/sqlite")).migrate(database)
        let interactions = SQLiteInteractionStore(database: database)
        let attempts = SQLiteSignInAttemptStore(database: database)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let request = try AuthorizationRequest(json: .object([
            "client_id": "c1", "response_type": "code id_token", "redirect_uri": "https://tpp.example/cb", "scope": "openid",
        ]))
        try await interactions.insertInteraction(
            PSUInteraction(
                idHash: Crypto.sha256("i"), clientID: "c1", request: request, requestURIHash: Crypto.sha256("urn"), csrfHash: Crypto.sha256("c"),
                createdAt: t0, expiresAt: t0.addingTimeInterval(600)))
        _ = try await attempts.countSignInAttempt(keys: [Crypto.sha256("user:alice")], now: t0, window: 300)
        var logger = Logger(label: "sweeper")
        logger.logLevel = .critical
        let sweeper = ExpirySweeper(
            tokens: SQLiteTokenStore(database: database), interactions: interactions, signInAttempts: attempts, clock: FixedClock(t0.addingTimeInterval(601)),
            logger: logger)
        #expect(await sweeper.sweep() == 2)
        #expect(try await interactions.interaction(idHash: Crypto.sha256("i"), now: t0) == nil)
        #expect(try await attempts.countSignInAttempt(keys: [Crypto.sha256("user:alice")], now: t0, window: 300)[0].failures == 1)
    }
}

@Suite("ExpirySweeper: consents")
struct ConsentExpirySweeperTests {
    @Test("each pass marks at most consentBatch due consents expired (rows kept), and nothing else")
    func consentsMarkedInBatches() async throws {
        let directory = try TestPKI(name: "sweeper-consents")
        let database = try SQLiteDatabase(path: directory.path("fapid.sqlite"))
        try SQLiteMigrator(directory: Shell.repositoryRoot.appendingPathComponent("migrations/sqlite")).migrate(database)
        let consents = SQLiteConsentStore(database: database)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<3 {
            try await consents.insertConsent(
                Consent(
                    id: "g\(index)", clientID: "c1", subject: "alice", type: "scope", authorizationDetails: .array([]), scope: "accounts",
                    status: .authorised, origin: .pushedRequest, createdAt: t0, expiresAt: t0.addingTimeInterval(index == 2 ? 3600 : 10)),
                audit: nil)
        }
        var logger = Logger(label: "sweeper")
        logger.logLevel = .critical
        let sweeper = ExpirySweeper(
            tokens: SQLiteTokenStore(database: database), consents: consents, consentBatch: 1, clock: FixedClock(t0.addingTimeInterval(60)), logger: logger)
        #expect(await sweeper.sweep() == 1)
        #expect(await sweeper.sweep() == 1)
        #expect(await sweeper.sweep() == 0)
        #expect(try await consents.consent(id: "g0")?.status == .expired)
        #expect(try await consents.consent(id: "g1")?.status == .expired)
        #expect(try await consents.consent(id: "g2")?.status == .authorised)
        #expect(try await consents.consents(ConsentFilter()).count == 3)
    }
}
