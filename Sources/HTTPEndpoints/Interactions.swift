import AuthorizationServer
import Foundation
import JOSE

/// The PSU's side of an authorization request while it is in the browser: which pending request, the
/// CSRF token of its forms, and who signed in. Kept in storage for a few minutes, so the browser's next
/// request may reach another instance; only hashes of the ids and CSRF tokens are stored. A storage
/// failure reads as an expired form: the PSU starts again from the client's redirect.
struct Interactions: Sendable {
    struct Interaction: Sendable {
        let pending: AuthorizationService.Pending
        let csrf: String
        var username: String?
        var authTime: Date?
    }

    struct Session: Sendable {
        let username: String
        let authTime: Date
    }

    static let lifetime: TimeInterval = 600
    static let sessionLifetime: TimeInterval = 900
    /// Live interactions one `request_uri` may have: a PSU may reopen the link in a few tabs or browsers, but
    /// a leaked `request_uri` opened in a loop must not fill the database (CWE-400).
    static let livePerRequestURI = 10

    let store: any InteractionStore
    let clients: any ClientStore

    /// A new interaction for the pending request; nil when its `request_uri` has `livePerRequestURI` already.
    func start(_ pending: AuthorizationService.Pending, now: Date) async throws(StorageError) -> (id: String, Interaction)? {
        let id = SystemEntropy().token()
        let csrf = SystemEntropy().token()
        let stored = try await store.insertInteraction(
            PSUInteraction(
                idHash: Crypto.sha256(id), clientID: pending.client.clientID, request: pending.request, requestURIHash: pending.requestURIHash,
                csrfHash: Crypto.sha256(csrf), createdAt: now, expiresAt: now.addingTimeInterval(Self.lifetime)),
            livePerRequestURI: Self.livePerRequestURI)
        return stored ? (id, Interaction(pending: pending, csrf: csrf)) : nil
    }

    /// The interaction, when it exists, is fresh and the form's CSRF token matches (compared as hashes, in
    /// constant time).
    func get(_ id: String?, csrf: String, now: Date) async -> Interaction? {
        guard let id, let stored = try? await store.interaction(idHash: Crypto.sha256(id), now: now),
            Crypto.constantTimeEqual(Crypto.sha256(csrf), stored.csrfHash)
        else { return nil }
        return await interaction(stored, csrf: csrf)
    }

    func signIn(_ id: String, username: String, authTime: Date, now: Date) async -> Bool {
        (try? await store.signInInteraction(idHash: Crypto.sha256(id), username: username, authTime: authTime, now: now)) ?? false
    }

    /// Takes the interaction out when the CSRF token is its own, atomically in storage, so a consent form works
    /// once whichever instance receives it.
    func finish(_ id: String, csrf: String, now: Date) async -> Interaction? {
        guard let stored = try? await store.takeInteraction(idHash: Crypto.sha256(id), csrfHash: Crypto.sha256(csrf), now: now) else { return nil }
        return await interaction(stored, csrf: csrf)
    }

    /// The pending request again, with its client as stored now (a client removed meanwhile ends it).
    private func interaction(_ stored: PSUInteraction, csrf: String) async -> Interaction? {
        guard let client = try? await clients.client(id: stored.clientID) else { return nil }
        let pending = AuthorizationService.Pending(client: client, request: stored.request, requestURIHash: stored.requestURIHash)
        return Interaction(pending: pending, csrf: csrf, username: stored.username, authTime: stored.authTime)
    }

    func newSession(username: String, authTime: Date) async throws(StorageError) -> String {
        let id = SystemEntropy().token()
        try await store.insertSession(
            PSUSession(idHash: Crypto.sha256(id), username: username, authTime: authTime, expiresAt: authTime.addingTimeInterval(Self.sessionLifetime)))
        return id
    }

    func session(_ id: String?, now: Date) async -> Session? {
        guard let id, let session = try? await store.session(idHash: Crypto.sha256(id), now: now) else { return nil }
        return Session(username: session.username, authTime: session.authTime)
    }
}
