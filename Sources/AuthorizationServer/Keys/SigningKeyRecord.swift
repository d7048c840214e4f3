public import Foundation
public import JOSE

/// What storage keeps about one of the server's signing keys. The private key itself lives either in a file
/// (mode 0600) named by `keyFile`, relative to the keys directory, or, sealed with the configured key
/// encryption key (AES-256-GCM, bound to its kid), in `sealedKey`: then every instance sharing the database
/// can load it without a shared file system.
public struct SigningKeyRecord: Sendable, Equatable {
    public var kid: String
    public var algorithm: JWSAlgorithm
    public var keyFile: String
    public var createdAt: Date
    /// When the key stopped signing; nil while it is the active key for its algorithm.
    public var retiredAt: Date?
    /// Until when a retired key stays in `/jwks`, so tokens it signed can still be verified.
    public var publishUntil: Date?
    /// The private key's PEM sealed with the key encryption key; nil for a key kept in a file.
    public var sealedKey: [UInt8]?

    public init(
        kid: String, algorithm: JWSAlgorithm, keyFile: String, createdAt: Date, retiredAt: Date? = nil, publishUntil: Date? = nil,
        sealedKey: [UInt8]? = nil
    ) {
        self.sealedKey = sealedKey
        self.kid = kid
        self.algorithm = algorithm
        self.keyFile = keyFile
        self.createdAt = createdAt
        self.retiredAt = retiredAt
        self.publishUntil = publishUntil
    }

    public enum State: String, Sendable {
        /// Signs new tokens and is published.
        case active
        /// No longer signs; published until `publishUntil`.
        case retired
        /// No longer signs nor published.
        case expired
    }

    public func state(at now: Date) -> State {
        guard retiredAt != nil else { return .active }
        if let publishUntil, publishUntil > now { return .retired }
        return .expired
    }
}

/// Storage of signing-key records (one aggregate).
public protocol SigningKeyStore: Sendable {
    /// Every record, oldest first.
    func signingKeys() async throws(StorageError) -> [SigningKeyRecord]
    /// Adds an active key. Fails with `conflict` when the kid exists.
    func insertSigningKey(_ record: SigningKeyRecord, audit: AuditEvent?) async throws(StorageError)
    /// In one transaction: adds `newKey` as the active key of its algorithm and retires every other
    /// active key of that algorithm at `at`, published until `publishUntil`.
    func rotateSigningKey(to newKey: SigningKeyRecord, at: Date, publishUntil: Date, audit: AuditEvent?) async throws(StorageError)
}
