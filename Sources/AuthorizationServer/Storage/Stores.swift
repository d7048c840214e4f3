public import Foundation
public import JOSE

/// Registered clients (one aggregate).
public protocol ClientStore: Sendable {
    /// Fails with `conflict` when the client id exists. `audit` is appended in the same transaction.
    func insertClient(_ client: Client, audit: AuditEvent?) async throws(StorageError)
    func client(id: String) async throws(StorageError) -> Client?
    func clients() async throws(StorageError) -> [Client]
    /// Removes the client and revokes its tokens; false when there was no such client. `audit` is appended
    /// in the same transaction when the client was removed.
    func removeClient(id: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool
}

/// A resource server allowed to introspect tokens, authenticated by its mTLS certificate.
public struct ResourceServer: Sendable, Equatable {
    public let id: String
    public let name: String
    public let subjectDN: String
    public let createdAt: Date

    public init(id: String, name: String, subjectDN: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.subjectDN = subjectDN
        self.createdAt = createdAt
    }
}

public protocol ResourceServerStore: Sendable {
    func insertResourceServer(_ server: ResourceServer, audit: AuditEvent?) async throws(StorageError)
    func resourceServers() async throws(StorageError) -> [ResourceServer]
    func removeResourceServer(id: String, audit: AuditEvent?) async throws(StorageError) -> Bool
}

/// An issued access token as stored: only the SHA-256 of the token, never the token.
public struct AccessTokenRecord: Sendable, Equatable {
    public var tokenHash: [UInt8]
    public var clientID: String
    /// The user behind the token; nil for client_credentials.
    public var subject: String?
    public var scope: String
    public var issuedAt: Date
    public var expiresAt: Date
    /// RFC 8705 §3.1 `x5t#S256` of the certificate the token is bound to.
    public var certificateThumbprint: String?
    /// "opaque" or "jwt".
    public var format: String
    public var revokedAt: Date?
    /// Hash of the authorization code or refresh token it was issued from, to revoke it with them.
    public var originHash: [UInt8]?

    public init(
        tokenHash: [UInt8], clientID: String, subject: String?, scope: String, issuedAt: Date, expiresAt: Date,
        certificateThumbprint: String?, format: String, revokedAt: Date? = nil, originHash: [UInt8]? = nil
    ) {
        self.originHash = originHash
        self.tokenHash = tokenHash
        self.clientID = clientID
        self.subject = subject
        self.scope = scope
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.certificateThumbprint = certificateThumbprint
        self.format = format
        self.revokedAt = revokedAt
    }

    public func isActive(at now: Date) -> Bool { revokedAt == nil && expiresAt > now }
}

public protocol TokenStore: Sendable {
    /// Stores the token and appends `audit` in one transaction.
    func insertAccessToken(_ record: AccessTokenRecord, audit: AuditEvent?) async throws(StorageError)
    func accessToken(hash: [UInt8]) async throws(StorageError) -> AccessTokenRecord?
    /// Marks the token revoked if it belongs to `clientID`; returns whether a token of that client was found.
    /// `audit` is appended in the same transaction when it was.
    func revokeAccessToken(hash: [UInt8], clientID: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool
}

/// Single-use `jti` values of client assertions (RFC 7523 §3 item 7).
public protocol ReplayStore: Sendable {
    /// Records `jti` for `clientID` until `expiresAt`, atomically; false when it was already recorded.
    func consume(jti: String, clientID: String, expiresAt: Date, now: Date) async throws(StorageError) -> Bool
}
