import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// A consent store whose reads and updates fail: storage that cannot answer.
struct UnavailableConsentStore: ConsentStore {
    func insertConsent(_ consent: Consent, audit: AuditEvent?) async throws(StorageError) { throw StorageError(.unavailable, "down") }
    func consent(id: String) async throws(StorageError) -> Consent? { throw StorageError(.unavailable, "down") }
    func updateConsent<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (Consent) -> StoredTransition<Consent, R>
    ) async throws(StorageError) -> R? { throw StorageError(.unavailable, "down") }
    func consents(_ filter: ConsentFilter) async throws(StorageError) -> [Consent] { throw StorageError(.unavailable, "down") }
    func consentIDs(expiredBy now: Date, limit: Int) async throws(StorageError) -> [String] { throw StorageError(.unavailable, "down") }
}

/// Grant Management when the consent store fails: never a 404 (`notFound`) that calls an existing grant unknown, and
/// never an `invalid_token` refusal (its answer would carry a `WWW-Authenticate` challenge); `temporarily_unavailable`.
@Suite("Grant Management on failing storage")
struct GrantManagementStorageTests {
    @Test("GET and DELETE /grants/{id} answer temporarily_unavailable (503) when the consent store fails")
    func storageFailure() async throws {
        let flow = try await ConsentCore()
        try await flow.register("sp")
        let grantID = try #require(try await flow.tokens(ConsentCore.balances, client: "sp", ["scope": "openid accounts"]).grantID)
        let query = try await flow.managementToken("sp", scope: GrantManagementService.queryScope)
        let revoke = try await flow.managementToken("sp", scope: GrantManagementService.revokeScope)
        let certificate = flow.core.certificate(flow.core.credentials.tpp)
        let broken = GrantManagementService(
            consents: UnavailableConsentStore(), tokens: flow.core.stores.tokens,
            resource: UserinfoService(tokens: flow.core.stores.tokens, clock: flow.core.clock, dpop: flow.core.dpop), clock: flow.core.clock)
        for (token, call) in [(query, "GET"), (revoke, "DELETE")] {
            do {
                let answer =
                    call == "GET"
                    ? try await broken.query(grantID: grantID, accessToken: token, scheme: .bearer, certificate: certificate)
                    : try await broken.revoke(grantID: grantID, accessToken: token, scheme: .bearer, certificate: certificate)
                Issue.record("\(call) answered \(answer) on failing storage")
            } catch {
                guard case .unavailable(let failure) = error else {
                    Issue.record("\(call): \(error)")
                    continue
                }
                #expect(failure.code == .temporarilyUnavailable && failure.status == 503)
            }
        }
        // The grant itself is untouched and still readable through working storage.
        #expect(try await flow.consent(of: "sp").status == .authorised)
    }
}
