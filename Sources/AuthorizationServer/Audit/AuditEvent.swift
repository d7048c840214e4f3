public import Foundation
import JOSE

/// One entry of the tamper-evident audit log: who was given (or refused) access to what.
///
/// It never holds a secret, token, code or password: only identifiers, the certificate's
/// `x5t#S256`, the request's interaction id, an outcome and a short reason.
public struct AuditEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case clientRegistered = "client.registered"
        case clientUpdated = "client.updated"
        case clientDeleted = "client.deleted"
        case clientAuthenticationFailed = "client.authentication_failed"
        case tokenIssued = "token.issued"
        case tokenRefreshed = "token.refreshed"
        case tokenRevoked = "token.revoked"
        case codeReuseDetected = "code.reuse_detected"
        case consentGiven = "consent.given"
        case consentDenied = "consent.denied"
        /// A consent row (`Consent`) was created, changed by one approval of several, authorised, rejected,
        /// consumed or revoked; the reason carries `ConsentEvidence`.
        case consentCreated = "consent.created"
        case consentApproved = "consent.approved"
        case consentAuthorised = "consent.authorised"
        case consentRejected = "consent.rejected"
        case consentConsumed = "consent.consumed"
        case consentRevoked = "consent.revoked"
        case consentUpdated = "consent.updated"
        case cibaRequested = "ciba.requested"
        case cibaDecided = "ciba.decided"
        case certificateRevoked = "certificate.revoked"
        /// Written by releases before staged rotation (a key that signed at once); kept so old rows still read.
        case keyRotated = "key.rotated"
        case keyAdded = "key.added"
        /// Signing-key states (OIDC Core §10.1.1, `SigningKeyRecord.State`): `fapictl keys rotate` publishes a key
        /// (`key.staged`), or with `--now` makes it sign at once (`key.activated`); the transitions time brings are
        /// written by the daemon, once across instances (`key.activated`, `key.retiring`, `key.removed`).
        case keyStaged = "key.staged"
        case keyActivated = "key.activated"
        case keyRetiring = "key.retiring"
        case keyRemoved = "key.removed"
        case configurationLoaded = "configuration.loaded"
        case resourceServerAdded = "resource_server.added"
        case resourceServerRemoved = "resource_server.removed"
    }

    public enum Outcome: String, Sendable {
        case success
        case failure
    }

    public var time: Date
    public var kind: Kind
    public var clientID: String?
    public var orgID: String?
    /// The PSU, or for CIBA decisions and admin commands the staff member (OS user).
    public var user: String?
    public var certificateThumbprint: String?
    public var interactionID: String?
    /// The peer address of the request.
    public var source: String?
    public var outcome: Outcome
    public var reason: String?

    /// `interactionID` and `source` default to those of the request being served (`AuditContext`).
    public init(
        _ kind: Kind, at time: Date, clientID: String? = nil, orgID: String? = nil, user: String? = nil, certificateThumbprint: String? = nil,
        outcome: Outcome = .success, reason: String? = nil, interactionID: String? = AuditContext.current?.interactionID,
        source: String? = AuditContext.current?.source
    ) {
        self.time = time
        self.kind = kind
        self.clientID = clientID
        self.orgID = orgID
        self.user = user
        self.certificateThumbprint = certificateThumbprint
        self.interactionID = interactionID
        self.source = source
        self.outcome = outcome
        self.reason = reason.map { Self.bounded($0) }
        self.clientID = clientID.map { Self.bounded($0) }
        self.user = user.map { Self.bounded($0) }
    }

    /// An event about `client`, with its organisation when it has one.
    public init(
        _ kind: Kind, at time: Date, client: Client, user: String? = nil, certificateThumbprint: String? = nil, outcome: Outcome = .success,
        reason: String? = nil
    ) {
        self.init(
            kind, at: time, clientID: client.clientID, orgID: client.metadata["org_id"]?.stringValue, user: user,
            certificateThumbprint: certificateThumbprint, outcome: outcome, reason: reason)
    }

    /// Values from requests are attacker-chosen: at most 256 characters are kept.
    static func bounded(_ text: String) -> String {
        text.count <= 256 ? text : String(text.prefix(256)) + "…"
    }
}

/// What the HTTP layer knows about the request being served, for audit events and log lines made
/// anywhere below it.
public struct AuditContext: Sendable {
    public var interactionID: String
    public var source: String?
    /// Where the core notes the client the request authenticated as, for the edge's trace span; nil (nothing
    /// noted, nothing allocated) unless the edge traces requests.
    public var client: RequestClient?

    public init(interactionID: String, source: String?, client: RequestClient? = nil) {
        self.interactionID = interactionID
        self.source = source
        self.client = client
    }

    @TaskLocal public static var current: AuditContext?
}

/// Appends events that accompany no other change (authentication failures, denied consent,
/// revoked certificates found, configuration loaded). Events that record a change are appended
/// by the store, in the transaction of that change.
public protocol AuditLog: Sendable {
    func append(_ event: AuditEvent) async throws(StorageError)
}

extension AuditLog {
    /// Appends, or logs why it could not: a failed audit write of a refusal must not turn it into a 500.
    public func record(_ event: AuditEvent, onFailure: (StorageError) -> Void = { _ in }) async {
        do { try await append(event) } catch { onFailure(error) }
    }
}
