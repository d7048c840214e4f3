import AuthorizationServer
import Foundation
import JOSE
import Synchronization

/// The PSU's side of an authorization request while it is in the browser: which pending request, the
/// CSRF token of its forms, and who logged in. Kept in memory for a few minutes (a restart or another
/// instance means starting again from the client's redirect).
final class Interactions: Sendable {
    struct Interaction: Sendable {
        let pending: AuthorizationService.Pending
        let csrf: String
        let created: Date
        var username: String?
        var authTime: Date?
    }

    struct Session: Sendable {
        let username: String
        let authTime: Date
        let expires: Date
    }

    static let lifetime: TimeInterval = 600
    static let sessionLifetime: TimeInterval = 900
    static let maximumInteractions = 100_000
    private let interactions = Mutex<[String: Interaction]>([:])
    private let sessions = Mutex<[String: Session]>([:])

    func start(_ pending: AuthorizationService.Pending, now: Date) -> (id: String, Interaction) {
        let id = Crypto.randomToken()
        let interaction = Interaction(pending: pending, csrf: Crypto.randomToken(), created: now)
        interactions.withLock { all in
            // Pruned only when large, and bounded, so page loads cannot grow memory or cost without limit.
            if all.count >= 10_000 { all = all.filter { now.timeIntervalSince($0.value.created) < Self.lifetime } }
            if all.count >= Self.maximumInteractions { all.removeAll(keepingCapacity: true) }
            all[id] = interaction
        }
        return (id, interaction)
    }

    /// The interaction, when it exists, is fresh and the form's CSRF token matches (constant time).
    func get(_ id: String?, csrf: String?, now: Date) -> Interaction? {
        guard let id, let interaction = interactions.withLock({ $0[id] }), now.timeIntervalSince(interaction.created) < Self.lifetime else { return nil }
        if let csrf { guard Crypto.constantTimeEqual(csrf, interaction.csrf) else { return nil } }
        return interaction
    }

    func signIn(_ id: String, username: String, authTime: Date) {
        interactions.withLock { all in
            all[id]?.username = username
            all[id]?.authTime = authTime
        }
    }

    /// Takes the interaction out, in one critical section with the CSRF check, so a consent form works once.
    func finish(_ id: String, csrf: String, now: Date) -> Interaction? {
        interactions.withLock { all -> Interaction? in
            guard let interaction = all[id], now.timeIntervalSince(interaction.created) < Self.lifetime,
                Crypto.constantTimeEqual(csrf, interaction.csrf)
            else { return nil }
            return all.removeValue(forKey: id)
        }
    }

    func newSession(username: String, authTime: Date) -> String {
        let id = Crypto.randomToken()
        sessions.withLock { all in
            if all.count >= 10_000 { all = all.filter { $0.value.expires > authTime } }
            all[id] = Session(username: username, authTime: authTime, expires: authTime.addingTimeInterval(Self.sessionLifetime))
        }
        return id
    }

    func session(_ id: String?, now: Date) -> Session? {
        guard let id, let session = sessions.withLock({ $0[id] }), session.expires > now else { return nil }
        return session
    }
}
