import AuthorizationServer
import Foundation
import JOSE
import MemoryStorage
import TestSupport
import Testing

/// `/account/consents` (`AccountConsentService.consents(of:)`): the listed statuses are read one by one, so a
/// customer's active consents are never pushed out of the bounded page by many newer rejected or expired ones.
@Suite("Account consents list")
struct AccountConsentListTests {
    @Test("an authorised consent is listed behind 250 newer rejected and 50 expired ones")
    func activeNotPushedOut() async throws {
        let core = try await Core()
        try await core.stores.users.insertUser(
            User(username: "bob", passwordHash: try PasswordHash.make("bob's long passphrase"), createdAt: core.clock.now()))
        let storage = MemoryStorage()
        let interactions = InteractionService(
            authorization: core.authorization, login: LoginService(users: core.stores.users, attempts: storage.signInAttempts, clock: core.clock),
            store: storage.interactions, clients: core.stores.clients, clock: core.clock)
        let accounts = AccountConsentService(interactions: interactions, consents: core.stores.consents, clients: core.stores.clients, clock: core.clock)
        let details: JSON = [["type": "account_information", "actions": ["balances"]]]
        let now = core.clock.now()
        func consent(_ id: String, _ status: Consent.Status, age: TimeInterval, expires: TimeInterval = 3600) -> Consent {
            Consent(
                id: id, clientID: "c1", subject: "bob", type: "account_information", authorizationDetails: details, scope: "accounts",
                status: status, origin: .pushedRequest, createdAt: now.addingTimeInterval(-age), expiresAt: now.addingTimeInterval(expires))
        }
        try await core.stores.consents.insertConsent(consent("active", .authorised, age: 1000), audit: nil)
        for index in 0..<250 { try await core.stores.consents.insertConsent(consent("rejected-\(index)", .rejected, age: 10), audit: nil) }
        // Stored as authorised but past their expiry: expired as of now.
        for index in 0..<50 {
            try await core.stores.consents.insertConsent(consent("expired-\(index)", .authorised, age: 5, expires: -1), audit: nil)
        }
        try await core.stores.consents.insertConsent(consent("pending", .awaitingAuthorisation, age: 500), audit: nil)
        let cookie = try await accounts.signIn(username: "bob", password: "bob's long passphrase", address: "192.0.2.1")
        let session = try #require(await accounts.session(cookie))
        let entries = try await accounts.consents(of: session)
        #expect(entries.map(\.id) == ["pending", "active"])
        #expect(entries.map(\.status) == [.awaitingAuthorisation, .authorised])
    }
}
