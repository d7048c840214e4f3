public import Foundation
import JOSE
import OpenSSLKit
import Synchronization

/// Dynamic client registration for accredited TPPs (RFC 7591 with software statements, RFC 7592
/// management), with the Open Banking UK request JWT and the FAPI metadata rules.
public struct RegistrationService: Sendable {
    public struct Settings: Sendable {
        public var issuer: String
        public var clockSkew: TimeInterval = 10
        /// Longest accepted lifetime of a registration request JWT.
        public var maximumRequestLifetime: TimeInterval = 3600
        /// Oldest `iat` of a software statement accepted at registration (`software_statement_max_age_seconds`);
        /// its `jti` is remembered this long. Updates re-check the stored statement without this bound.
        public var maximumStatementAge: TimeInterval = 2_592_000
        /// The profile of a client whose request and statement name none (the setting `fapi_profile`).
        public var defaultProfile: FAPIProfile = .fapi1Advanced
        /// The `authorization_details` types a client may register (RFC 9396 §10): `AuthorizationDetailsPolicy.supportedTypes`.
        public var authorizationDetailsTypes: [String] = AuthorizationDetailsPolicy.builtInTypes

        public init(issuer: String) {
            self.issuer = issuer
        }
    }

    public struct Registered: Sendable {
        public let client: Client
        public let registration: RegistrationRecord
        /// Returned once, never stored.
        public let registrationAccessToken: String
    }

    let directories: [TrustedDirectory]
    let clients: any ClientStore
    let registrations: any RegistrationStore
    let replay: any ReplayStore
    let fetcher: any JWKSFetcher
    let status: (any CertificateStatusPolicy)?
    let settings: Settings
    let clock: any WallClock
    let entropy: any EntropySource
    /// Directory JWKS fetched from a `jwks_uri`, kept for five minutes.
    private let directoryKeys = DirectoryKeyCache()

    public init(
        directories: [TrustedDirectory], clients: any ClientStore, registrations: any RegistrationStore, replay: any ReplayStore,
        fetcher: any JWKSFetcher, status: (any CertificateStatusPolicy)?, settings: Settings, clock: any WallClock,
        entropy: any EntropySource = SystemEntropy()
    ) {
        self.entropy = entropy
        self.directories = directories
        self.clients = clients
        self.registrations = registrations
        self.replay = replay
        self.fetcher = fetcher
        self.status = status
        self.settings = settings
        self.clock = clock
    }

    /// Members a registration may set. Anything else is ignored (RFC 7591 §2), so a registration can never
    /// set server-side attributes (such as `fapi`).
    static let registrableMembers: Set<String> = [
        "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "client_name", "client_uri", "logo_uri", "scope",
        "contacts", "tos_uri", "policy_uri", "jwks_uri", "jwks", "software_version", "application_type",
        "tls_client_auth_subject_dn", "tls_client_auth_san_dns", "tls_client_auth_san_uri", "tls_client_auth_san_ip",
        "tls_client_auth_san_email", "tls_client_certificate_bound_access_tokens", "token_endpoint_auth_signing_alg",
        "id_token_signed_response_alg", "request_object_signing_alg", "authorization_signed_response_alg",
        "backchannel_token_delivery_mode", "backchannel_client_notification_endpoint", "backchannel_authentication_request_signing_alg",
        "backchannel_user_code_parameter", "require_pushed_authorization_requests", "access_token_format", "access_token_signing_alg",
        "dpop_bound_access_tokens", "authorization_details_types",
    ]

    /// Members only a trusted directory's software statement may set, never the request: the profile decides which
    /// rules protect the client, so a TPP cannot pick a weaker one for itself (without a statement value, the
    /// server's setting `fapi_profile` decides, or on an update the profile the client already has).
    static let statementOnlyMembers: Set<String> = [FAPIProfile.metadataMember]

    /// Set by the server from the statement and certificate, never taken from the request.
    static let serverMembers: Set<String> = ["software_id", "org_id", "organization_identifier", "psd2_competent_authority"]

    /// ETSI TS 119 495 roles to the directory role names of Open Banking.
    static let psd2RoleNames = ["PSP_AI": "AISP", "PSP_PI": "PISP", "PSP_IC": "CBPII", "PSP_AS": "ASPSP"]

    // MARK: RFC 7591 registration

    public func register(body: [UInt8], isJWT: Bool, certificate: ClientCertificate?) async throws(OAuthError) -> Registered {
        // The registration endpoint authenticates the TPP by its transport certificate: without one, the request
        // fails as an mTLS client authentication does (RFC 6749 §5.2, RFC 8705 §2), before any work is done.
        guard certificate != nil else {
            throw OAuthError(.invalidClient, "registration needs the TPP's transport certificate (mTLS)")
        }
        let now = clock.now()
        let request = try parseRequest(body: body, isJWT: isJWT)
        let statement = try await verifySoftwareStatement(request.softwareStatement, now: now)
        let transport = try await checkTransportCertificate(certificate, statement: statement)
        // The statement is used up before any work on keys the TPP supplies (a request JWT's software keys, inline
        // jwks): a replayed statement costs one signature check, never a key parse. A refused registration therefore
        // needs a new statement.
        try await consumeStatement(statement, now: now)
        if isJWT {
            try await verifyRequestSignature(request, statement: statement, now: now)
            try await consumeRequest(request, statement: statement, now: now)
        }
        let clientID = entropy.hexIdentifier(bytes: 16)
        let client = try buildClient(clientID: clientID, metadata: request.metadata, statement: statement, certificate: transport, now: now)
        let token = entropy.token()
        let record = RegistrationRecord(
            clientID: clientID, accessTokenHash: TokenIssuer.hash(token), directory: statement.directory.name, softwareID: statement.softwareID,
            orgID: statement.orgID, certificateThumbprint: transport.thumbprint, softwareStatement: request.softwareStatement
        )
        let event = AuditEvent(
            .clientRegistered, at: now, clientID: clientID, orgID: statement.orgID, certificateThumbprint: transport.thumbprint,
            reason: "directory \(statement.directory.name), software \(statement.softwareID)")
        do { try await registrations.insertRegistration(client, record, audit: event) } catch { throw OAuthError(error, "the registration could not be stored") }
        AuditContext.current?.client?.note(client.clientID)
        return Registered(client: client, registration: record, registrationAccessToken: token)
    }

    // MARK: RFC 7592 management

    /// The registration of `clientID` when `accessToken` and `certificate` are the ones it was registered with.
    /// Unknown clients and bad tokens fail alike (RFC 7592 §2.1: do not reveal whether the client exists).
    public func authorize(clientID: String, accessToken: String?, certificate: ClientCertificate?) async throws(OAuthError)
        -> (Client, RegistrationRecord)
    {
        let refused = OAuthError(.invalidToken, "the registration access token is not valid for this client")
        guard let accessToken, !accessToken.isEmpty else { throw refused }
        let record: RegistrationRecord?
        let client: Client?
        do {
            record = try await registrations.registration(clientID: clientID)
            client = try await clients.client(id: clientID)
        } catch {
            throw OAuthError(error, "the registration could not be stored")
        }
        guard let record, let client, Crypto.constantTimeEqual(TokenIssuer.hash(accessToken), record.accessTokenHash) else { throw refused }
        guard let certificate, certificate.thumbprint == record.certificateThumbprint else {
            throw OAuthError(.invalidToken, "management needs the certificate the client was registered with")
        }
        // The same checks as at registration: the directory's CAs, validity today, revocation (RFC 7592 §2 leaves
        // authentication to the server; a certificate revoked since registration must not manage the client).
        guard let directory = directories.first(where: { $0.name == record.directory }) else {
            throw OAuthError(.invalidToken, "the directory of this registration is no longer trusted")
        }
        do { _ = try await verifyTransport(certificate, directory: directory) } catch {
            throw OAuthError(.invalidToken, "the registration certificate is not valid now", detail: error.detail)
        }
        // RFC 7592: the registration access token identifies the client as its authentication would.
        AuditContext.current?.client?.note(client.clientID)
        return (client, record)
    }

    /// RFC 7592 §2.2: replaces the metadata, re-validated against the software statement; rotates the access token.
    /// The body is JSON, or (Open Banking UK DCR) a request JWT signed by the software's key, checked as at registration.
    /// A software statement in the body replaces the stored one when it is valid and names the same software.
    public func update(clientID: String, accessToken: String?, body: [UInt8], isJWT: Bool = false, certificate: ClientCertificate?)
        async throws(OAuthError) -> Registered
    {
        let (existing, record) = try await authorize(clientID: clientID, accessToken: accessToken, certificate: certificate)
        guard let certificate else { throw OAuthError(.invalidToken, "management needs the registered certificate") }
        let now = clock.now()
        let request = try parseRequest(body: body, isJWT: isJWT, update: true)
        // RFC 7592 §2.2 requires client_id in a JSON update; Open Banking request JWTs may leave it out.
        guard request.clientID == clientID || (isJWT && request.clientID == nil) else {
            throw OAuthError(.invalidRequest, "the body's client_id must be the client being updated")
        }
        let sent = request.softwareStatement
        let statement = try await verifySoftwareStatement(sent.isEmpty ? record.softwareStatement : sent, now: now, forUpdate: true)
        guard statement.softwareID == record.softwareID, statement.directory.name == record.directory else {
            throw OAuthError(.invalidSoftwareStatement, "the software statement names other software than the registration")
        }
        if isJWT {
            try await verifyRequestSignature(request, statement: statement, now: now)
            try await consumeRequest(request, statement: statement, now: now)
        }
        let client = try buildClient(
            clientID: clientID, metadata: request.metadata, statement: statement, certificate: certificate, now: existing.createdAt,
            profile: existing.profile)
        let token = entropy.token()
        var updated = record
        updated.accessTokenHash = TokenIssuer.hash(token)
        if !sent.isEmpty { updated.softwareStatement = sent }
        let stored: Bool
        let event = AuditEvent(
            .clientUpdated, at: now, clientID: clientID, orgID: record.orgID, certificateThumbprint: certificate.thumbprint,
            reason: "RFC 7592 update; registration access token rotated")
        do {
            stored = try await registrations.updateRegistration(client, updated, previousTokenHash: record.accessTokenHash, audit: event)
        } catch {
            throw OAuthError(error, "the registration could not be stored")
        }
        guard stored else { throw OAuthError(.invalidToken, "the registration access token is not valid for this client") }
        return Registered(client: client, registration: updated, registrationAccessToken: token)
    }

    /// RFC 7592 §2.3: removes the client; its tokens stop working at once.
    public func delete(clientID: String, accessToken: String?, certificate: ClientCertificate?) async throws(OAuthError) {
        let (_, record) = try await authorize(clientID: clientID, accessToken: accessToken, certificate: certificate)
        let now = clock.now()
        let event = AuditEvent(
            .clientDeleted, at: now, clientID: clientID, orgID: record.orgID, certificateThumbprint: certificate?.thumbprint,
            reason: "RFC 7592 delete; its tokens were revoked")
        do { _ = try await clients.removeClient(id: clientID, at: now, audit: event) } catch { throw OAuthError(error, "the registration could not be stored") }
    }

    // MARK: Steps

    struct ParsedRequest {
        var metadata: [String: JSON]
        var softwareStatement: String
        var clientID: String?
        var jws: CompactJWS?
        var claims: JWTClaims?
    }

    /// Reads JSON metadata or an `application/jwt` request (its signature is checked later, once the
    /// software statement says which keys sign it).
    func parseRequest(body: [UInt8], isJWT: Bool, update: Bool = false) throws(OAuthError) -> ParsedRequest {
        var members: [String: JSON]
        var jws: CompactJWS?
        var claims: JWTClaims?
        do {
            if isJWT {
                let parsed = try CompactJWS(String(decoding: body, as: UTF8.self))
                jws = parsed
                claims = try parsed.claims()
                members = claims!.members
            } else {
                members = try JSON.parseObject(body)
            }
        } catch {
            throw OAuthError(.invalidClientMetadata, isJWT ? "the registration request is not a valid JWT" : "the body is not a JSON object")
        }
        if update {
            for forbidden in ["registration_access_token", "registration_client_uri", "client_id_issued_at", "client_secret_expires_at"]
            where members[forbidden] != nil {
                throw OAuthError(.invalidRequest, "\(forbidden) must not be sent in an update")
            }
        }
        let clientID = members["client_id"]?.stringValue
        guard let statement = members["software_statement"]?.stringValue ?? (update ? "" : nil) else {
            throw OAuthError(.invalidSoftwareStatement, "software_statement is required")
        }
        let metadata = members.filter { Self.registrableMembers.contains($0.key) && !Self.serverMembers.contains($0.key) }
        return ParsedRequest(metadata: metadata, softwareStatement: statement, clientID: clientID, jws: jws, claims: claims)
    }

    struct SoftwareStatement {
        let directory: TrustedDirectory
        let claims: JWTClaims
        let softwareID: String
        let orgID: String?
        let roles: [String]
        let redirectURIs: [String]
    }

    /// RFC 7591 §2.3: a JWS from a trusted directory, with FAPI algorithms, not expired, `jti` single-use.
    func verifySoftwareStatement(_ token: String, now: Date, forUpdate: Bool = false) async throws(OAuthError)
        -> SoftwareStatement
    {
        let (jws, claims): (CompactJWS, JWTClaims)
        do { (jws, claims) = try CompactJWS.jwt(token) } catch {
            throw OAuthError(.invalidSoftwareStatement, "the software statement is not a valid JWS", detail: "\(error)")
        }
        var directory: TrustedDirectory?
        for candidate in directories {
            if let issuer = candidate.issuer, claims.issuer != issuer { continue }
            guard let keys = await keys(of: candidate) else { continue }
            if (try? jws.verify(with: keys, allowed: JWSAlgorithm.fapi)) != nil {
                directory = candidate
                break
            }
        }
        guard let directory else {
            throw OAuthError(.invalidSoftwareStatement, "the software statement is not signed by a trusted directory with PS256 or ES256")
        }
        do {
            try JWTValidator(requiredClaims: directory.requiresExpiry ? ["iat", "exp"] : ["iat"], clockSkew: settings.clockSkew)
                .validate(claims, now: now.timeIntervalSince1970)
        } catch {
            throw OAuthError(.invalidSoftwareStatement, "the software statement is expired or not yet valid", detail: "\(error)")
        }
        // A registration takes a recent statement only (the stored one is re-checked for updates without this bound).
        if !forUpdate, let iat = try? claims.date("iat"), iat < now.timeIntervalSince1970 - settings.maximumStatementAge {
            throw OAuthError(.invalidSoftwareStatement, "the software statement is too old; get a new one from the directory")
        }
        guard let softwareID = claims["software_id"]?.stringValue, !softwareID.isEmpty else {
            throw OAuthError(.invalidSoftwareStatement, "the software statement has no software_id")
        }
        if !forUpdate {
            guard let jti = claims.jwtID, !jti.isEmpty else { throw OAuthError(.invalidSoftwareStatement, "the software statement has no jti") }
        }
        let roles = claims["software_roles"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let redirects = (claims["software_redirect_uris"] ?? claims["redirect_uris"])?.arrayValue?.compactMap(\.stringValue) ?? []
        return SoftwareStatement(
            directory: directory, claims: claims, softwareID: softwareID, orgID: claims["org_id"]?.stringValue, roles: roles, redirectURIs: redirects)
    }

    /// Records the statement's `jti` as used, for as long as the statement could be accepted: until the earlier
    /// of its `exp` and `iat` + the maximum age, plus the clock skew.
    func consumeStatement(_ statement: SoftwareStatement, now: Date) async throws(OAuthError) {
        guard let jti = statement.claims.jwtID else { throw OAuthError(.invalidSoftwareStatement, "the software statement has no jti") }
        let iat = (try? statement.claims.date("iat")).flatMap { $0 } ?? now.timeIntervalSince1970
        let exp = (try? statement.claims.date("exp")).flatMap { $0 } ?? .infinity
        let until = Date(timeIntervalSince1970: min(exp, iat + settings.maximumStatementAge) + settings.clockSkew)
        let fresh: Bool
        do { fresh = try await replay.consume(jti: jti, clientID: "ssa:\(statement.directory.name)", expiresAt: until, now: now) } catch {
            throw OAuthError(error, "the registration could not be stored")
        }
        guard fresh else { throw OAuthError(.invalidSoftwareStatement, "the software statement was already used (jti)") }
    }

    private func keys(of directory: TrustedDirectory) async -> JWKSet? {
        switch directory.keys {
        case .set(let set): return set
        case .uri(let url):
            let now = clock.now()
            if let cached = directoryKeys.get(url, now: now) { return cached }
            guard let fetched = (try? await fetcher.fetch(url)).flatMap({ try? JWKSet(json: $0) }) else { return nil }
            directoryKeys.set(url, fetched, now: now)
            return fetched
        }
    }

    /// The transport certificate: chain-verified against the directory's CAs, not revoked, and belonging
    /// to the software statement's organisation (its `org_id` in the subject's OU or organizationIdentifier).
    func checkTransportCertificate(_ presented: ClientCertificate?, statement: SoftwareStatement) async throws(OAuthError) -> ClientCertificate {
        guard let presented else {
            throw OAuthError(.invalidClient, "registration needs the TPP's transport certificate (mTLS)")
        }
        let certificate = try await verifyTransport(presented, directory: statement.directory)
        if let orgID = statement.orgID {
            let attributes = certificate.certificate.subjectRDNs.flatMap { $0 }
            // An attribute that did not decode never matches (fail closed, as DN comparison does).
            let matches = attributes.contains { attribute in
                attribute.isDecoded
                    && ((attribute.type == "OU" && attribute.value == orgID)
                        || (attribute.oid == "2.5.4.97" && (attribute.value == orgID || attribute.value.hasSuffix("-" + orgID))))
            }
            guard matches else {
                throw OAuthError(.unapprovedSoftwareStatement, "the certificate does not belong to organisation \(orgID)")
            }
        }
        return certificate
    }

    /// Where the statement puts the software's keys: `software_jwks_endpoint` (Open Banking UK), `software_jwks_uri`
    /// (Open Finance Brasil), `software_jwks`, or the client metadata `jwks_uri` / `jwks` (RFC 7591 §2.3).
    enum SoftwareKeys {
        case inline(JSON)
        case uri(String)
    }

    static func softwareKeys(of statement: SoftwareStatement) -> SoftwareKeys? {
        let claims = statement.claims
        for name in ["software_jwks_endpoint", "software_jwks_uri"] {
            if let url = claims[name]?.stringValue { return .uri(url) }
        }
        if let inline = claims["software_jwks"], inline.objectValue != nil { return .inline(inline) }
        if let url = claims["jwks_uri"]?.stringValue { return .uri(url) }
        if let inline = claims["jwks"], inline.objectValue != nil { return .inline(inline) }
        return nil
    }

    /// A transport certificate as the directory sees it: chained to its CAs, valid now, not revoked.
    func verifyTransport(_ presented: ClientCertificate, directory: TrustedDirectory) async throws(OAuthError) -> ClientCertificate {
        guard
            let certificate = ClientCertificate.evaluate(
                presented: presented.presentedChain, trustStore: directory.transportCAs, source: presented.source, at: clock.now()),
            certificate.isChainVerified
        else {
            throw OAuthError(.unapprovedSoftwareStatement, "the certificate is not issued by a CA of the software statement's directory")
        }
        do { try await status?.check(certificate) } catch {
            throw OAuthError(.unapprovedSoftwareStatement, "the certificate's revocation status does not allow registration", detail: error.detail)
        }
        return certificate
    }

    /// OBUK DCR: the request JWT is signed with a key of the software (see `softwareKeys`),
    /// `iss` = software_id, `aud` = this issuer, `exp` present, `jti` single-use.
    func verifyRequestSignature(_ request: ParsedRequest, statement: SoftwareStatement, now: Date) async throws(OAuthError) {
        guard let jws = request.jws, let claims = request.claims else { return }
        let keys: JWKSet?
        switch Self.softwareKeys(of: statement) {
        case .inline(let inline): keys = try? JWKSet(json: inline.bytes)
        case .uri(let url) where url.hasPrefix("https://"): keys = (try? await fetcher.fetch(url)).flatMap { try? JWKSet(json: $0) }
        case .uri, nil: keys = nil
        }
        guard let keys else { throw OAuthError(.invalidSoftwareStatement, "the software statement names no usable software keys") }
        do {
            try jws.verify(with: keys, allowed: JWSAlgorithm.fapi)
            try JWTValidator(
                issuer: statement.softwareID, audiences: [settings.issuer], requiredClaims: ["exp", "iat", "jti"],
                clockSkew: settings.clockSkew, maximumLifetime: settings.maximumRequestLifetime
            ).validate(claims, now: now.timeIntervalSince1970)
        } catch {
            throw OAuthError(.invalidClientMetadata, "the registration request JWT is not valid: \(error.code.rawValue)", detail: "\(error)")
        }
    }

    /// Records the request JWT's `jti` as used until its `exp`.
    func consumeRequest(_ request: ParsedRequest, statement: SoftwareStatement, now: Date) async throws(OAuthError) {
        if let claims = request.claims, let jti = claims.jwtID, let exp = try? claims.date("exp") {
            let fresh: Bool
            do {
                fresh = try await replay.consume(jti: jti, clientID: "dcr:\(statement.softwareID)", expiresAt: Date(timeIntervalSince1970: exp + settings.clockSkew), now: now)
            } catch {
                throw OAuthError(error, "the registration could not be stored")
            }
            guard fresh else { throw OAuthError(.invalidClientMetadata, "the registration request was already used (jti)") }
        }
    }

    /// Merges the request with the software statement (RFC 7591 §2.3: the statement wins) and applies the FAPI rules.
    /// `profile`: the profile when the statement names none (an update keeps the client's; a new client gets the
    /// server's default).
    func buildClient(
        clientID: String, metadata requested: [String: JSON], statement: SoftwareStatement, certificate: ClientCertificate, now: Date,
        profile: FAPIProfile? = nil
    ) throws(OAuthError) -> Client {
        var metadata = requested
        // RFC 7591 §2.3: metadata in the software statement takes precedence over the request. A statement that
        // names the keys or the certificate identity replaces every alternative spelling of them in the request.
        let fromStatement = statement.claims.members.filter {
            (Self.registrableMembers.contains($0.key) || Self.statementOnlyMembers.contains($0.key)) && !Self.serverMembers.contains($0.key)
        }
        let exclusive: [Set<String>] = [["jwks", "jwks_uri"], Set(["tls_client_auth_subject_dn"] + Client.TLSClientAuthSAN.allCases.map(\.rawValue))]
        for group in exclusive where !group.isDisjoint(with: fromStatement.keys) {
            for member in group { metadata[member] = nil }
        }
        metadata.merge(fromStatement) { _, statement in statement }
        let allowedRedirects = Set(statement.redirectURIs)
        if let redirects = metadata["redirect_uris"]?.arrayValue?.compactMap(\.stringValue) {
            if let outside = redirects.first(where: { !allowedRedirects.contains($0) }) {
                throw OAuthError(.invalidRedirectURI, "redirect URI \(outside) is not among the software statement's software_redirect_uris")
            }
        } else if !statement.redirectURIs.isEmpty {
            metadata["redirect_uris"] = .array(statement.redirectURIs.map { .string($0) })
        }
        // Scopes: what the statement's roles allow, narrowed for eIDAS certificates to the PSD2 roles the
        // certificate itself carries (ETSI TS 119 495). A request beyond them is refused, not trimmed.
        var roles = statement.roles
        let psd2: X509Certificate.PSD2Attributes?
        do { psd2 = try certificate.certificate.psd2Attributes() } catch {
            throw OAuthError(.unapprovedSoftwareStatement, "the certificate's PSD2 QCStatement is malformed")
        }
        if let psd2 {
            let certified = Set(psd2.roles.compactMap { Self.psd2RoleNames[$0] })
            roles = roles.filter { certified.contains($0) }
            metadata["psd2_competent_authority"] = .string(psd2.competentAuthorityID)
        }
        if let organization = certificate.certificate.subjectRDNs.flatMap({ $0 }).first(where: { $0.oid == "2.5.4.97" }) {
            metadata["organization_identifier"] = .string(organization.value)
        }
        let allowedScopes = roles.reduce(into: Set<String>()) { $0.formUnion(statement.directory.roleScopes[$1] ?? []) }
        if let scope = metadata["scope"]?.stringValue {
            let requestedScopes = scope.split(separator: " ").map(String.init)
            if let beyond = requestedScopes.first(where: { !allowedScopes.contains($0) }) {
                throw OAuthError(.invalidClientMetadata, "scope \(beyond) is not allowed by the software roles \(statement.roles.joined(separator: ", "))")
            }
        } else {
            metadata["scope"] = .string(allowedScopes.sorted().joined(separator: " "))
        }
        if metadata["client_name"] == nil, let name = statement.claims["software_client_name"]?.stringValue { metadata["client_name"] = .string(name) }
        metadata["software_id"] = .string(statement.softwareID)
        if let orgID = statement.orgID { metadata["org_id"] = .string(orgID) }
        let method = metadata["token_endpoint_auth_method"]?.stringValue ?? ClientAuthMethod.tlsClientAuth.rawValue
        metadata["token_endpoint_auth_method"] = .string(method)
        if method == ClientAuthMethod.tlsClientAuth.rawValue {
            let subject = certificate.subject
            if let registered = metadata["tls_client_auth_subject_dn"]?.stringValue {
                guard (try? DistinguishedName(rfc4514: registered)) == subject else {
                    throw OAuthError(.invalidClientMetadata, "tls_client_auth_subject_dn must be the subject of the presented certificate")
                }
            } else if let kind = Client.TLSClientAuthSAN.allCases.first(where: { metadata[$0.rawValue] != nil }) {
                // A SAN registered for tls_client_auth must be one the registration certificate carries.
                let carried = kind.matches(metadata[kind.rawValue]?.stringValue ?? "", in: certificate.certificate.subjectAlternativeNames)
                guard carried else {
                    throw OAuthError(.invalidClientMetadata, "\(kind.rawValue) must be a subject alternative name of the presented certificate")
                }
            } else {
                metadata["tls_client_auth_subject_dn"] = .string(certificate.certificate.subjectDN)
            }
        }
        if metadata["jwks"] == nil && metadata["jwks_uri"] == nil {
            // The software's own keys, as the statement names them: they verify its assertions and request objects.
            switch Self.softwareKeys(of: statement) {
            case .uri(let url): metadata["jwks_uri"] = .string(url)
            case .inline(let inline): metadata["jwks"] = inline
            case nil: break
            }
        }
        do {
            let client = try Client(
                clientID: clientID, metadata: FAPIProfile.resolving(metadata, serverDefault: profile ?? settings.defaultProfile), createdAt: now)
            try client.checkAuthorizationDetailsTypes(supported: settings.authorizationDetailsTypes)
            try client.checkAuthorizationDetailsScopes()
            return client
        } catch {
            if error.field == "redirect_uris" { throw OAuthError(.invalidRedirectURI, "\(error)") }
            throw OAuthError(.invalidClientMetadata, "\(error)")
        }
    }
}

/// A small TTL cache of directory key sets fetched from `jwks_uri`.
final class DirectoryKeyCache: Sendable {
    private let entries = Mutex<[String: (JWKSet, Date)]>([:])
    static let lifetime: TimeInterval = 300

    func get(_ url: String, now: Date) -> JWKSet? {
        entries.withLock { $0[url] }.flatMap { now.timeIntervalSince($0.1) < Self.lifetime ? $0.0 : nil }
    }

    func set(_ url: String, _ keys: JWKSet, now: Date) {
        entries.withLock { $0[url] = (keys, now) }
    }
}
