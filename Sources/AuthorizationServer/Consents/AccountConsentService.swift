public import Foundation
import OpenSSLKit

/// The signed-in customer's own consents (`/account/consents`, a PSR Art. 43 style dashboard): sign in with the
/// same password check and throttle as the authorization flow (`LoginService`), see each consent with its client's
/// name and its details in plain words, and withdraw one (`consent.revoked(by: "customer:<username>")`, which
/// revokes its tokens). Only the customer's own consents are ever listed or withdrawn: another user's answers
/// exactly like an unknown one.
public struct AccountConsentService: Sendable {
    /// One consent as the dashboard shows it; the HTTP layer escapes every string.
    public struct Entry: Sendable, Equatable {
        public let id: String
        public let clientName: String
        /// `ConsentDisplay.lines` of its details.
        public let lines: [String]
        /// Its status as of now (expiry applied).
        public let status: Consent.Status
        public let createdAt: Date
        public let authorisedAt: Date?
        public let expiresAt: Date
        /// Whether it may be withdrawn (awaiting or authorised).
        public var withdrawable: Bool { status == .awaitingAuthorisation || status == .authorised }
    }

    /// A signed-in customer: who, and the CSRF token of their forms (derived from the session cookie, which only
    /// their browser holds).
    public struct Session: Sendable, Equatable {
        public let username: String
        public let csrf: String
    }

    /// What a withdrawal came to.
    public enum Withdrawal: Sendable, Equatable {
        case withdrawn
        /// Unknown, another customer's, or no longer awaiting or authorised: all answered alike.
        case unknown
        /// The form's CSRF token is not the session's.
        case forged
    }

    let interactions: InteractionService
    let consents: any ConsentStore
    let clients: any ClientStore
    let clock: any WallClock

    public init(interactions: InteractionService, consents: any ConsentStore, clients: any ClientStore, clock: any WallClock) {
        self.interactions = interactions
        self.consents = consents
        self.clients = clients
        self.clock = clock
    }

    /// How long a dashboard sign-in lasts: as long as the authorization flow's (`psu_session_lifetime_seconds`).
    public var sessionLifetime: TimeInterval { interactions.settings.sessionLifetime }

    /// The dashboard's statuses: what the customer has granted or is asked for, and what they withdrew.
    static let listed: Set<Consent.Status> = [.awaitingAuthorisation, .authorised, .revoked]
    /// The most consents of each listed status the page reads (the page stays bounded: at most 3 × 100 entries).
    static let limitPerStatus = 100

    /// Checks the password (throttled per user and address, as at the consent flow) and starts a session; returns
    /// the session cookie's value.
    public func signIn(username: String, password: String, address: String?) async throws(LoginService.Failure) -> String {
        let user = try await interactions.login.authenticate(username: username, password: password, address: address)
        do { return try await interactions.newSession(username: user.username, authTime: clock.now()) } catch { throw .unavailable }
    }

    /// A fresh token for the sign-in form and its cookie (double submit against login CSRF), from the entropy source.
    public func signInFormToken() -> String { interactions.entropy.token() }

    /// The session the cookie value names, while it has not expired.
    public func session(_ cookie: String?) async -> Session? {
        guard let cookie, let state = await interactions.session(cookie) else { return nil }
        return Session(username: state.username, csrf: Self.csrf(for: cookie))
    }

    /// The CSRF token of a session's forms: SHA-256 of a label and the (secret, 256-bit) session cookie value, so it
    /// is unguessable without the cookie and does not reveal it.
    static func csrf(for cookie: String) -> String {
        Base64URL.encode(Crypto.sha256(Array("fapid account consents csrf\u{0}\(cookie)".utf8)))
    }

    /// The customer's consents, newest first, each with its client's name (its id when it has none) and its lines.
    public func consents(of session: Session) async throws(StorageError) -> [Entry] {
        let now = clock.now()
        var entries: [Entry] = []
        // One bounded read per listed status, matched as of now: many rejected or expired consents never push the
        // active ones out of the page.
        var found: [Consent] = []
        for status in Self.listed.sorted(by: { $0.rawValue < $1.rawValue }) {
            found += try await consents.consents(ConsentFilter(subject: session.username, status: status, limit: Self.limitPerStatus, asOf: now))
        }
        found.sort { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        for consent in found where consent.subject == session.username {
            let status = consent.status(at: now)
            guard Self.listed.contains(status) else { continue }
            let client = try? await clients.client(id: consent.clientID)
            entries.append(
                Entry(
                    id: consent.id, clientName: client?.name ?? consent.clientID, lines: ConsentDisplay.lines(consent.authorizationDetails),
                    status: status, createdAt: consent.createdAt, authorisedAt: consent.authorisedAt, expiresAt: consent.expiresAt))
        }
        return entries
    }

    /// Withdraws the customer's consent `id` when the form's `csrf` is the session's: revoked with its tokens, in one
    /// transaction, audited as `consent.revoked` by `customer:<username>`.
    public func withdraw(id: String, csrf: String, session: Session) async throws(StorageError) -> Withdrawal {
        guard Crypto.constantTimeEqual(Array(csrf.utf8), Array(session.csrf.utf8)) else { return .forged }
        let now = clock.now()
        let username = session.username
        let context = AuditContext.current
        let outcome = try await consents.updateConsent(id: id) { consent in
            // Decided on the locked row: another customer's consent is not theirs to withdraw.
            guard consent.subject == username else { return StoredTransition(ConsentOutcome.notYours) }
            return consent.revoked(by: "customer:\(username)", at: now, context: context)
        }
        guard case .done = outcome else { return .unknown }
        return .withdrawn
    }
}
