import Foundation
public import JOSE

/// The bank operator's administration of clients (TPPs registered out of band, RFC 7591 metadata) and of the
/// resource servers allowed to introspect tokens: each change is stored with its audit event naming the
/// operator, in one transaction. `fapictl` uses it on the database directly.
public struct AdministrationService: Sendable {
    let clients: any ClientStore
    let resourceServers: any ResourceServerStore
    let clock: any WallClock
    let entropy: any EntropySource
    /// The profile of a client whose metadata names none (the setting `fapi_profile`).
    let defaultProfile: FAPIProfile
    /// The server's signing keys, to check that a resource server's introspection algorithm has an active key
    /// (nil: not checked).
    let signingKeys: (any SigningKeyStore)?
    /// The `authorization_details` types a client may register (`AuthorizationDetailsPolicy.supportedTypes`).
    let authorizationDetailsTypes: [String]

    public init(
        clients: any ClientStore, resourceServers: any ResourceServerStore, clock: any WallClock, entropy: any EntropySource = SystemEntropy(),
        defaultProfile: FAPIProfile = .fapi1Advanced, signingKeys: (any SigningKeyStore)? = nil,
        authorizationDetailsTypes: [String] = AuthorizationDetailsPolicy.builtInTypes
    ) {
        self.authorizationDetailsTypes = authorizationDetailsTypes
        self.defaultProfile = defaultProfile
        self.clients = clients
        self.resourceServers = resourceServers
        self.clock = clock
        self.entropy = entropy
        self.signingKeys = signingKeys
    }

    /// Registers a client from its metadata, under a new random `client_id`, recorded as added by `operator`.
    /// Without `fapi_profile` the client gets the server's default profile, stored so it shows back.
    public func addClient(metadata: [String: JSON], by operator: String) async throws(AdministrationError) -> Client {
        // RFC 7591 §3.2.1: the server assigns these.
        for field in ["client_id", "client_secret"] where metadata[field] != nil { throw .serverAssigned(field: field) }
        let client: Client
        do throws(ClientMetadataError) {
            // 128 random bits: client ids are not secrets, but need not be guessable either.
            let resolved = FAPIProfile.resolving(metadata, serverDefault: defaultProfile)
            client = try Client(clientID: entropy.hexIdentifier(bytes: 16), metadata: resolved, createdAt: clock.now())
            try client.checkAuthorizationDetailsTypes(supported: authorizationDetailsTypes)
            try client.checkAuthorizationDetailsScopes()
        } catch {
            throw .invalidMetadata(error)
        }
        do throws(StorageError) {
            try await clients.insertClient(
                client, audit: AuditEvent(.clientRegistered, at: client.createdAt, client: client, user: `operator`, reason: "fapictl clients add"))
        } catch {
            throw .storage(error)
        }
        return client
    }

    /// Replaces the whole metadata of client `id` (as an RFC 7592 §2.2 update does), validated as at registration;
    /// the `client_id` and its creation time stay. The body may repeat `client_id` (it must be `id`) and
    /// `client_id_issued_at` (ignored), so `fapictl clients show` output can be edited and fed back. Recorded as
    /// updated by `operator`; nil when there is no such client.
    public func updateClient(id: String, metadata: [String: JSON], by operator: String) async throws(AdministrationError) -> Client? {
        if let named = metadata["client_id"], named.stringValue != id { throw .otherClient(id) }
        if metadata["client_secret"] != nil { throw .serverAssigned(field: "client_secret") }
        var replacement = metadata
        replacement["client_id"] = nil
        replacement["client_id_issued_at"] = nil
        let existing: Client?
        do throws(StorageError) { existing = try await clients.client(id: id) } catch { throw .storage(error) }
        guard let existing else { return nil }
        let client: Client
        do throws(ClientMetadataError) {
            // Without fapi_profile the client keeps the profile it has (the setting applies to new clients only).
            let resolved = FAPIProfile.resolving(replacement, serverDefault: existing.profile)
            client = try Client(clientID: id, metadata: resolved, createdAt: existing.createdAt)
            try client.checkAuthorizationDetailsTypes(supported: authorizationDetailsTypes)
            try client.checkAuthorizationDetailsScopes()
        } catch {
            throw .invalidMetadata(error)
        }
        let event = AuditEvent(
            .clientUpdated, at: clock.now(), client: client, user: `operator`, reason: "fapictl clients update; profile \(client.profile.rawValue)")
        do throws(StorageError) {
            guard try await clients.replaceClient(client, audit: event) else { return nil }
        } catch {
            throw .storage(error)
        }
        return client
    }

    public func clients() async throws(StorageError) -> [Client] {
        try await clients.clients()
    }

    public func client(id: String) async throws(StorageError) -> Client? {
        try await clients.client(id: id)
    }

    /// Removes the client and revokes its tokens, recorded as removed by `operator`; false when there is none.
    public func removeClient(id: String, by operator: String) async throws(StorageError) -> Bool {
        let now = clock.now()
        let event = AuditEvent(.clientDeleted, at: now, clientID: id, user: `operator`, reason: "fapictl clients remove")
        return try await clients.removeClient(id: id, at: now, audit: event)
    }

    /// Registers a resource server by the subject DN of its mTLS certificate (RFC 4514), under a new id, with the
    /// algorithm of its JWT introspection responses (RFC 9701 §6 `introspection_signed_response_alg`; PS256
    /// when nil): one of `IntrospectionResponseJWT.algorithms` that the server has an active signing key for.
    public func addResourceServer(
        name: String, subjectDN: String, introspectionSignedResponseAlg: String? = nil, by operator: String
    ) async throws(AdministrationError) -> ResourceServer {
        do throws(DistinguishedNameError) { _ = try DistinguishedName(rfc4514: subjectDN) } catch { throw .invalidSubjectDN(error) }
        let algorithm = try await introspectionAlgorithm(introspectionSignedResponseAlg)
        let server = ResourceServer(
            id: entropy.hexIdentifier(bytes: 12), name: name, subjectDN: subjectDN, createdAt: clock.now(), introspectionSignedResponseAlg: algorithm)
        do throws(StorageError) {
            try await resourceServers.insertResourceServer(
                server,
                audit: AuditEvent(
                    .resourceServerAdded, at: server.createdAt, clientID: server.id, user: `operator`,
                    reason: "resource server \(name), subject \(subjectDN)"
                        + (algorithm == IntrospectionResponseJWT.defaultAlgorithm ? "" : ", introspection responses \(algorithm.rawValue)")))
        } catch where error.code == .conflict {
            throw .nameTaken(name)
        } catch {
            throw .storage(error)
        }
        return server
    }

    /// The chosen introspection signing algorithm, checked against what the server can sign with now.
    func introspectionAlgorithm(_ name: String?) async throws(AdministrationError) -> JWSAlgorithm {
        guard let name else { return IntrospectionResponseJWT.defaultAlgorithm }
        guard let algorithm = JWSAlgorithm(rawValue: name), IntrospectionResponseJWT.algorithms.contains(algorithm) else {
            throw .introspectionAlgorithm(name, "not one of \(IntrospectionResponseJWT.algorithms.map(\.rawValue).joined(separator: ", "))")
        }
        guard let signingKeys else { return algorithm }
        let now = clock.now()
        let records: [SigningKeyRecord]
        do throws(StorageError) { records = try await signingKeys.signingKeys() } catch { throw .storage(error) }
        guard records.contains(where: { $0.algorithm == algorithm && $0.state(at: now) == .active }) else {
            throw .introspectionAlgorithm(name, "the server has no active \(name) signing key (fapictl keys generate --alg \(name))")
        }
        return algorithm
    }

    public func resourceServers() async throws(StorageError) -> [ResourceServer] {
        try await resourceServers.resourceServers()
    }

    /// Removes a resource server by id or name, recorded as removed by `operator`; false when there is none.
    public func removeResourceServer(id: String, by operator: String) async throws(StorageError) -> Bool {
        let event = AuditEvent(.resourceServerRemoved, at: clock.now(), clientID: id, user: `operator`, reason: "fapictl resource-servers remove")
        return try await resourceServers.removeResourceServer(id: id, audit: event)
    }
}

/// Why an administrative change was refused.
public enum AdministrationError: Error, Sendable, CustomStringConvertible {
    /// The metadata names a value the server assigns (`client_id`, `client_secret`).
    case serverAssigned(field: String)
    /// An update's body names another client than the one being updated.
    case otherClient(String)
    case invalidMetadata(ClientMetadataError)
    case invalidSubjectDN(DistinguishedNameError)
    /// A resource server of this name exists.
    case nameTaken(String)
    /// The introspection signing algorithm named is not offered, or has no active key: the name and why.
    case introspectionAlgorithm(String, String)
    case storage(StorageError)

    public var description: String {
        switch self {
        case .serverAssigned(let field): "\(field): assigned by the server, must not be given"
        case .otherClient(let id): "client_id: must be \(id), the client being updated"
        case .invalidMetadata(let error): "invalid client metadata: \(error)"
        case .invalidSubjectDN(let error): "\(error)"
        case .nameTaken(let name): "a resource server named \(name) exists"
        case .introspectionAlgorithm(let name, let reason): "introspection signing algorithm \(name): \(reason)"
        case .storage(let error): "\(error)"
        }
    }
}
