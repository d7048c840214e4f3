public import Foundation
public import JOSE

/// Registered clients (one aggregate).
public protocol ClientStore: Sendable {
    /// Fails with `conflict` when the client id exists. `audit` is appended in the same transaction.
    func insertClient(_ client: Client, audit: AuditEvent?) async throws(StorageError)
    func client(id: String) async throws(StorageError) -> Client?
    func clients() async throws(StorageError) -> [Client]
    /// Replaces the metadata of the existing client `client.clientID` (its id and creation time stay), appending
    /// `audit` in the same transaction; false when there is no such client.
    func replaceClient(_ client: Client, audit: AuditEvent?) async throws(StorageError) -> Bool
    /// Deletes the client (with its registration) and applies `revocations`, in one transaction; false when
    /// there was no such client. `audit` is appended in the same transaction when the client was removed.
    func deleteClient(id: String, revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool
}

extension ClientStore {
    /// Removes the client and revokes its tokens (`StoredRevocation.clientRemoved`); false when there was no
    /// such client. `audit` is appended in the same transaction when the client was removed.
    public func removeClient(id: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await deleteClient(id: id, revocations: StoredRevocation.clientRemoved(id, at: at), audit: audit)
    }
}

/// A resource server allowed to introspect tokens, authenticated by its mTLS certificate.
public struct ResourceServer: Sendable, Equatable {
    public let id: String
    public let name: String
    public let subjectDN: String
    public let createdAt: Date
    /// RFC 9701 §6: the algorithm its JWT introspection responses are signed with (PS256 unless chosen).
    public let introspectionSignedResponseAlg: JWSAlgorithm

    public init(
        id: String, name: String, subjectDN: String, createdAt: Date,
        introspectionSignedResponseAlg: JWSAlgorithm = IntrospectionResponseJWT.defaultAlgorithm
    ) {
        self.id = id
        self.name = name
        self.subjectDN = subjectDN
        self.createdAt = createdAt
        self.introspectionSignedResponseAlg = introspectionSignedResponseAlg
    }

    /// The stored `introspection_signed_response_alg` of resource server `id`: a name the server does not sign
    /// with fails the read rather than being replaced by another algorithm.
    public static func storedAlgorithm(_ name: String, id: String) throws(StorageError) -> JWSAlgorithm {
        guard let algorithm = JWSAlgorithm(rawValue: name), IntrospectionResponseJWT.algorithms.contains(algorithm) else {
            throw StorageError(.conflict, "resource server \(id) has an unknown introspection_signed_response_alg")
        }
        return algorithm
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
    /// RFC 9449 §6 `jkt`: the RFC 7638 thumbprint of the DPoP key the token is bound to.
    public var dpopThumbprint: String?
    /// The certificate the client authenticated with, when the token is not bound to it (a DPoP-bound token of an
    /// mTLS-authenticated client): the token still follows that certificate's revocation status.
    public var statusCertificateThumbprint: String?
    /// The consent (`grant_id`) the token was issued under; revoking the consent revokes the token.
    public var grantID: String?
    /// The certificate whose OCSP/CRL status decides whether the token is still active: the bound one, else the
    /// one the client authenticated with.
    public var statusThumbprint: String? { certificateThumbprint ?? statusCertificateThumbprint }
    /// What the token is bound to, as `TokenBinding.decide` chose it.
    public var binding: TokenBinding {
        TokenBinding(certificateThumbprint: certificateThumbprint, dpopThumbprint: dpopThumbprint, statusCertificateThumbprint: statusCertificateThumbprint)
    }

    public init(
        tokenHash: [UInt8], clientID: String, subject: String?, scope: String, issuedAt: Date, expiresAt: Date,
        certificateThumbprint: String?, format: String, revokedAt: Date? = nil, originHash: [UInt8]? = nil, dpopThumbprint: String? = nil,
        statusCertificateThumbprint: String? = nil, grantID: String? = nil
    ) {
        self.grantID = grantID
        self.dpopThumbprint = dpopThumbprint
        self.statusCertificateThumbprint = statusCertificateThumbprint
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
    /// Stores the token as `AccessTokenRecord.asStored` decides from what the store learns in the insert's
    /// transaction (whether the client exists, whether the origin was revoked), and appends `audit`.
    func insertAccessToken(_ record: AccessTokenRecord, audit: AuditEvent?) async throws(StorageError)
    /// The token; its `originHash` is not returned.
    func accessToken(hash: [UInt8]) async throws(StorageError) -> AccessTokenRecord?
    /// Applies `revocations` in order, in one transaction, when the first finds a token: then appends `audit`
    /// and returns true; otherwise changes nothing and returns false.
    func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool
}

extension TokenStore {
    /// Marks the token revoked if it belongs to `clientID`; returns whether a token of that client was found.
    /// `audit` is appended in the same transaction when it was.
    public func revokeAccessToken(hash: [UInt8], clientID: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await revoke(StoredRevocation.accessTokenRevoked(hash, clientID: clientID, at: at), audit: audit)
    }
}

/// Single-use `jti` values of client assertions (RFC 7523 §3 item 7).
public protocol ReplayStore: Sendable {
    /// Records `jti` for `clientID` until `expiresAt`, atomically; false when it was already recorded.
    func consume(jti: String, clientID: String, expiresAt: Date, now: Date) async throws(StorageError) -> Bool
}

/// The audit log as `fapictl audit` and the checkpointer read it.
public protocol AuditLogReader: AuditLog {
    /// The recorded head: the last seq and its hash.
    func head() async throws(StorageError) -> (seq: Int64, hash: String)?
    /// Rows with `seq` above `after`, at most `limit`, in order.
    func rows(after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row]
    /// Rows recorded at or after `since`, with `seq` above `after`, in order.
    func rows(since: Date, after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row]
    /// The row's hash at `seq`, if the row exists.
    func hash(at seq: Int64) async throws(StorageError) -> String?
    /// Stores a signed checkpoint; a second one of the same `seq` is ignored.
    func insertCheckpoint(seq: Int64, hash: String, jws: String, at: Date) async throws(StorageError)
    func checkpoints() async throws(StorageError) -> [AuditCheckpointRecord]
}

/// A signed checkpoint of the audit chain as stored.
public struct AuditCheckpointRecord: Sendable, Equatable {
    public var seq: Int64
    public var hash: String
    public var jws: String
    public var createdAt: Date

    public init(seq: Int64, hash: String, jws: String, createdAt: Date) {
        self.seq = seq
        self.hash = hash
        self.jws = jws
        self.createdAt = createdAt
    }
}

extension AuditLogReader {
    public func rows(after: Int64) async throws(StorageError) -> [AuditChain.Row] { try await rows(after: after, limit: 10_000) }
    public func rows(since: Date, after: Int64) async throws(StorageError) -> [AuditChain.Row] {
        try await rows(since: since, after: after, limit: 10_000)
    }
}
