public import Foundation

/// The PSU's side of an authorization request while it is in the browser, as stored: which request, the
/// hash of its forms' CSRF token, and who signed in. Kept in storage, not in a process, so the browser's
/// next request may reach any instance. Ids and CSRF tokens are stored only as SHA-256 hashes.
public struct PSUInteraction: Sendable, Equatable {
    public var idHash: [UInt8]
    public var clientID: String
    public var request: AuthorizationRequest
    /// Hash of the PAR `request_uri`, consumed at completion; nil for a request by value.
    public var requestURIHash: [UInt8]?
    public var csrfHash: [UInt8]
    public var createdAt: Date
    public var expiresAt: Date
    public var username: String?
    public var authTime: Date?

    public init(
        idHash: [UInt8], clientID: String, request: AuthorizationRequest, requestURIHash: [UInt8]?, csrfHash: [UInt8], createdAt: Date,
        expiresAt: Date, username: String? = nil, authTime: Date? = nil
    ) {
        self.idHash = idHash
        self.clientID = clientID
        self.request = request
        self.requestURIHash = requestURIHash
        self.csrfHash = csrfHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.username = username
        self.authTime = authTime
    }
}

/// A PSU's sign-in, remembered by a cookie (by hash of its value) for a few minutes.
public struct PSUSession: Sendable, Equatable {
    public var idHash: [UInt8]
    public var username: String
    public var authTime: Date
    public var expiresAt: Date

    public init(idHash: [UInt8], username: String, authTime: Date, expiresAt: Date) {
        self.idHash = idHash
        self.username = username
        self.authTime = authTime
        self.expiresAt = expiresAt
    }
}

public protocol InteractionStore: Sendable {
    /// Stores the interaction unless its `request_uri` already has `livePerRequestURI` unexpired interactions,
    /// atomically (on PostgreSQL across instances): a leaked `request_uri` opened in a loop cannot fill the
    /// database (CWE-400). False when refused. A request by value is not bounded here: its request object's
    /// `jti` is single use.
    func insertInteraction(_ interaction: PSUInteraction, livePerRequestURI: Int) async throws(StorageError) -> Bool
    /// The interaction, while it has not expired nor been finished.
    func interaction(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction?
    /// Records who signed in; false when the interaction is gone or expired.
    func signInInteraction(idHash: [UInt8], username: String, authTime: Date, now: Date) async throws(StorageError) -> Bool
    /// Removes and returns the interaction when `csrfHash` is its own and it has not expired, atomically: of
    /// concurrent consent forms (to any instance) one gets it.
    func takeInteraction(idHash: [UInt8], csrfHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction?
    func insertSession(_ session: PSUSession) async throws(StorageError)
    /// The session while it has not expired.
    func session(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUSession?
    /// Removes expired rows by cutoff, in one transaction; returns how many went (as `ExpiredRowSweeper`).
    func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int
}

extension InteractionStore {
    /// Removes the interactions and sessions that have expired (`ExpirySweep.interactionCutoffs`). Returns how
    /// many rows went.
    public func sweepExpiredInteractions(now: Date) async throws(StorageError) -> Int {
        try await deleteExpired(ExpirySweep.interactionCutoffs(now: now))
    }

    /// Stores the interaction, however many its `request_uri` has.
    public func insertInteraction(_ interaction: PSUInteraction) async throws(StorageError) {
        _ = try await insertInteraction(interaction, livePerRequestURI: .max)
    }
}
