public import Foundation
public import JOSE
public import OpenSSLKit

/// What storage keeps about one of the server's signing keys. The private key itself lives in one of three places,
/// named by `keyFile`:
/// - a file (mode 0600), relative to the keys directory;
/// - `database`: sealed with the configured key encryption key (AES-256-GCM, bound to its kid) in `sealedKey`, so
///   every instance sharing the database can load it without a shared file system;
/// - a `pkcs11:` URI (RFC 7512): inside a hardware token, which signs and never gives the key out.
///
/// A key's state follows from its times alone, so every instance sharing the database computes the same
/// schedule (OIDC Core §10.1.1): `next` (published, not signing) until `activatesAt`, then `active` until
/// `retiredAt`, then `retiring` (published, not signing) until `publishUntil`, then `removed`.
public struct SigningKeyRecord: Sendable, Equatable {
    public var kid: String
    public var algorithm: JWSAlgorithm
    public var keyFile: String
    public var createdAt: Date
    /// When the key starts signing; nil when it signs from `createdAt`.
    public var activatesAt: Date?
    /// When the key stops signing; nil while nothing has replaced it.
    public var retiredAt: Date?
    /// Until when a retired key stays in `/jwks`, so tokens it signed can still be verified.
    public var publishUntil: Date?
    /// The private key's PEM sealed with the key encryption key; nil for a key kept in a file or a token.
    public var sealedKey: [UInt8]?
    /// The last state an audit event was written for (`recordSigningKeyState`); nil before the first.
    public var recordedState: State?
    /// The public JWK (JSON) as `/jwks` publishes it, kept so a key that no longer signs is published, and old
    /// signatures verified (`fapictl audit verify`), without loading its private half (a token may have destroyed it).
    /// Nil for records made before migration 0023.
    public var publicJWK: String?

    public init(
        kid: String, algorithm: JWSAlgorithm, keyFile: String, createdAt: Date, activatesAt: Date? = nil, retiredAt: Date? = nil,
        publishUntil: Date? = nil, sealedKey: [UInt8]? = nil, recordedState: State? = nil, publicJWK: String? = nil
    ) {
        self.publicJWK = publicJWK
        self.sealedKey = sealedKey
        self.kid = kid
        self.algorithm = algorithm
        self.keyFile = keyFile
        self.createdAt = createdAt
        self.activatesAt = activatesAt
        self.retiredAt = retiredAt
        self.publishUntil = publishUntil
        self.recordedState = recordedState
    }

    public enum State: String, Sendable, CaseIterable {
        /// Published in `/jwks` ahead of use, so verifiers that cache the set know it before it signs.
        case next
        /// Signs new tokens and is published.
        case active
        /// No longer signs; published until `publishUntil`, while tokens it signed may still be presented.
        case retiring
        /// Neither signs nor is published.
        case removed

        /// States only move forward, in declaration order: a key is never recorded back to an earlier state (an
        /// instance whose clock is behind, or that judged the time before a slow reload, would otherwise undo what
        /// another recorded and write its event twice).
        public var order: Int { Self.allCases.firstIndex(of: self)! }

        /// The SQL condition, on a row's `recorded_state`, that it is NULL or earlier than `state`.
        public static func earlierSQL(than state: State) -> String {
            let earlier = allCases.prefix(state.order).map { "'\($0.rawValue)'" }
            return earlier.isEmpty ? "recorded_state IS NULL" : "(recorded_state IS NULL OR recorded_state IN (\(earlier.joined(separator: ", "))))"
        }
    }

    /// Where the private key lives.
    public enum Location: String, Sendable {
        case file
        case sealed
        case pkcs11
    }

    /// `keyFile` of a record whose key is sealed in the database.
    public static let sealedKeyFile = "database"

    public var location: Location {
        if sealedKey != nil { return .sealed }
        if keyFile.hasPrefix("pkcs11:") { return .pkcs11 }
        return .file
    }

    /// When the key starts signing.
    public var activeFrom: Date { activatesAt ?? createdAt }

    /// A new record for `key`: the kid its RFC 7638 thumbprint, its public JWK kept beside it.
    public static func make(for key: AsymmetricKey, algorithm: JWSAlgorithm, keyFile: String, createdAt: Date, sealedKey: [UInt8]? = nil)
        throws(JOSEError) -> SigningKeyRecord
    {
        let kid = try JWK.thumbprint(of: key)
        let jwk = try JWK(key: key, kid: kid, use: "sig", algorithm: algorithm)
        return SigningKeyRecord(
            kid: kid, algorithm: algorithm, keyFile: keyFile, createdAt: createdAt, sealedKey: sealedKey,
            publicJWK: String(decoding: JSON.object(jwk.publicMembers).bytes, as: UTF8.self))
    }

    public func state(at now: Date) -> State {
        if let retiredAt, retiredAt <= now {
            if let publishUntil, publishUntil > now { return .retiring }
            return .removed
        }
        return activeFrom > now ? .next : .active
    }
}

/// Storage of signing-key records (one aggregate).
public protocol SigningKeyStore: Sendable {
    /// Every record, oldest first.
    func signingKeys() async throws(StorageError) -> [SigningKeyRecord]
    /// Adds a key that nothing retires (at most one per algorithm). Fails with `conflict` when the kid exists,
    /// or when its algorithm has such a key already.
    func insertSigningKey(_ record: SigningKeyRecord, audit: AuditEvent?) async throws(StorageError)
    /// In one transaction: adds `newKey` (which signs from its `activeFrom`) and sets every other key of its
    /// algorithm that would still sign after `at` (nothing retired it, or it was to stop later) to stop signing `at`
    /// and stay published until `publishUntil`. So a staged key pending when another rotation comes signs until the
    /// newer one starts, and an emergency rotation stops every earlier key at once.
    func rotateSigningKey(to newKey: SigningKeyRecord, at: Date, publishUntil: Date, audit: AuditEvent?) async throws(StorageError)
    /// Notes that `kid` reached `state` and appends `audit`, in one transaction, unless `state` was noted already
    /// (by this instance or another sharing the database). True when this call noted it.
    func recordSigningKeyState(kid: String, state: SigningKeyRecord.State, audit: AuditEvent) async throws(StorageError) -> Bool
}
