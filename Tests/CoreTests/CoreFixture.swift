import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import MemoryStorage
import TestSupport
import Testing

// Everything the core suites share: the stores, the keys and certificates, the services wired as
// `Fapid+Services.swift` wires them, registered clients, and the credentials and signed objects a client sends.

/// The stores the core services run on, as the core's protocols.
struct CoreStores: Sendable {
    let clients: any ClientStore & ResourceServerStore
    let tokens: any TokenStore & ReplayStore
    let codes: any AuthorizationCodeStore
    let pushed: any PushedRequestStore
    let ciba: any CIBAStore
    let registrations: any RegistrationStore
    let users: any UserStore
    let audit: any AuditLogReader
    let consents: any ConsentStore
    /// Whatever must live as long as the stores (nothing for memory; a temporary directory for a database file).
    let owner: (any Sendable)?
}

enum CoreFixture {
    /// Fresh, empty stores for one test. The only place that chooses the backend: MemoryStorage, which passes the
    /// same store contract suite as SQLite and PostgreSQL.
    static func stores() throws -> CoreStores {
        let storage = MemoryStorage()
        return CoreStores(
            clients: storage.clients, tokens: storage.tokens, codes: storage.codes, pushed: storage.pushed, ciba: storage.ciba,
            registrations: storage.registrations, users: storage.users, audit: storage.audit, consents: storage.consents,
            owner: nil)
    }
}

/// Keys and certificates, made once per test process (each openssl call costs tens of milliseconds).
final class CoreCredentials: Sendable {
    /// Made on a thread of its own: the openssl subprocesses and RSA key generation would otherwise hold a thread of
    /// the cooperative pool (two on this machine) while every other suite of the process waits for them.
    private static let shared = Task {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CoreCredentials, any Error>) in
            Thread { continuation.resume(with: Result { try CoreCredentials() }) }.start()
        }
    }

    static func get() async throws -> CoreCredentials { try await shared.value }

    /// How long every certificate is valid, in days.
    static let validityDays = 120
    /// Seconds from `madeAt` to just past the certificates' notAfter.
    static let pastValidity = TimeInterval((validityDays + 1) * 86_400)

    /// When the certificates were made; every test clock starts just after.
    let madeAt: Date
    /// The transport CA of clients and of the trusted directory.
    let trust: CertificateTrustStore
    /// The TPP's transport certificate, issued by the CA: subject `C=GB, O=TPP Ltd, OU=org-1, CN=tpp-1`.
    let tpp: [X509Certificate]
    /// Another CA-issued certificate (another organisation).
    let other: [X509Certificate]
    /// A self-signed certificate and its key.
    let selfSigned: [X509Certificate]
    let selfSignedKey: AsymmetricKey
    /// The client's signing key (assertions, request objects), ES256.
    let clientSigner: SigningKey
    /// A key registered nowhere, for signatures that must fail.
    let strangerSigner: SigningKey
    /// The trusted directory's software statement key, ES256.
    let directorySigner: SigningKey
    /// The server's signing keys: PS256 (ID Tokens, JARM by default) and ES256.
    let keyRing: KeyRing
    private let pki: TestPKI

    init() throws {
        pki = try TestPKI(name: "core-pki")
        // Valid for `validity` days, so that a test can move its clock past a refresh token's 90 days.
        try pki.makeCA("ca", subject: "/O=fapid tests/CN=Core Test CA", days: Self.validityDays)
        try pki.issue("tpp", subject: "/C=GB/O=TPP Ltd/OU=org-1/CN=tpp-1", by: "ca", key: "ec", days: Self.validityDays)
        try pki.issue("other", subject: "/C=GB/O=Other Ltd/OU=org-2/CN=other-1", by: "ca", key: "ec", days: Self.validityDays)
        try pki.selfSigned("self", subject: "/C=GB/O=TPP Ltd/CN=self-signed", key: "ec", days: Self.validityDays)
        madeAt = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        trust = try CertificateTrustStore(anchors: X509Certificate.parsePEM(pki.read("ca.pem")))
        tpp = try X509Certificate.parsePEM(pki.read("tpp.pem"))
        other = try X509Certificate.parsePEM(pki.read("other.pem"))
        selfSigned = try X509Certificate.parsePEM(pki.read("self.pem"))
        selfSignedKey = try AsymmetricKey(pem: pki.read("self.key"))
        clientSigner = try SigningKey(key: AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "client-key")
        strangerSigner = try SigningKey(key: AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "client-key")
        directorySigner = try SigningKey(key: AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "directory-key")
        let serverKeys = ["server-ps256": try AsymmetricKey.generate(.rsa(bits: 2048)), "server-es256": try AsymmetricKey.generate(.p256)]
        keyRing = KeyRing()
        keyRing.reload(
            records: [
                SigningKeyRecord(kid: "server-ps256", algorithm: .PS256, keyFile: "unused", createdAt: madeAt),
                SigningKeyRecord(kid: "server-es256", algorithm: .ES256, keyFile: "unused", createdAt: madeAt),
            ], now: madeAt, load: { record in serverKeys[record.kid]! })
    }

    /// The public JWK Set of `signers`, as a client registers it.
    static func jwks(_ keys: [JWK]) -> JSON { .object(["keys": .array(keys.map { .object($0.publicMembers) })]) }

    var clientJWK: JWK { get throws { try JWK(key: clientSigner.key, kid: clientSigner.kid) } }
    var selfSignedJWK: JWK { get throws { try JWK(key: selfSignedKey, kid: "self-signed") } }

    /// `chain` as the TLS layer would hand it over, evaluated against the CA at `now`.
    func certificate(_ chain: [X509Certificate], at now: Date) -> ClientCertificate {
        ClientCertificate.evaluate(presented: chain, trustStore: trust, source: .tls, at: now)!
    }
}

/// No network in the core suites: a `jwks_uri` is never fetched.
struct OfflineFetcher: JWKSFetcher {
    func fetch(_ url: String) async throws(JWKSFetchError) -> [UInt8] { throw JWKSFetchError("no network in core tests") }
}

/// The core services on fresh stores, a `FixedClock` and a `SeededEntropy`, wired as the daemon wires them.
struct Core {
    static let issuer = "https://as.example"
    static let redirectURI = "https://tpp.example/cb"
    /// The seed of `entropy`: a `SeededEntropy(seed: Core.seed)` replays every value the services draw.
    static let seed = "core"

    let stores: CoreStores
    let credentials: CoreCredentials
    let clock: FixedClock
    let entropy = SeededEntropy(seed: Core.seed)
    let authenticator: ClientAuthenticator
    let tokenIssuer: TokenIssuer
    let idTokens: IDTokenIssuer
    let token: TokenService
    let authorization: AuthorizationService
    let pushed: PushedAuthorizationService
    let backchannel: BackchannelAuthenticationService
    let introspection: IntrospectionService
    let revocation: RevocationService
    let userinfo: UserinfoService
    let registration: RegistrationService
    /// RFC 9449 proof checks, shared by PAR, token and userinfo as the daemon shares them.
    let dpop: DPoPProofValidator
    /// The nonce key of `dpop` (every instance shares one).
    static let dpopNonceKey = [UInt8](repeating: 7, count: 32)

    init() async throws {
        stores = try CoreFixture.stores()
        credentials = try await CoreCredentials.get()
        clock = FixedClock(credentials.madeAt.addingTimeInterval(60))
        let keys = ClientKeyResolver(fetcher: OfflineFetcher(), clock: clock)
        authenticator = ClientAuthenticator(
            clients: stores.clients, replay: stores.tokens, keys: keys, settings: ClientAuthenticationSettings(issuer: Self.issuer), clock: clock,
            audit: stores.audit)
        tokenIssuer = TokenIssuer(
            store: stores.tokens, keyRing: credentials.keyRing, settings: AccessTokenSettings(issuer: Self.issuer), clock: clock, entropy: entropy)
        idTokens = IDTokenIssuer(keyRing: credentials.keyRing, issuer: Self.issuer, clock: clock)
        let cibaTokens = CIBATokens(codes: stores.codes, tokens: tokenIssuer, idTokens: idTokens, clock: clock, entropy: entropy)
        dpop = DPoPProofValidator(replay: stores.tokens, nonces: DPoPNonces(key: Self.dpopNonceKey), clock: clock)
        token = TokenService(
            authenticator: authenticator,
            handlers: [
                ClientCredentialsGrant(issuer: tokenIssuer),
                AuthorizationCodeGrant(codes: stores.codes, tokens: tokenIssuer, idTokens: idTokens, clock: clock, entropy: entropy),
                RefreshTokenGrant(codes: stores.codes, tokens: tokenIssuer, idTokens: idTokens, clock: clock),
                CIBAGrant(store: stores.ciba, tokens: cibaTokens, clock: clock),
            ],
            dpop: dpop)
        let requestObjects = RequestObjectValidator(keys: keys, replay: stores.tokens, issuer: Self.issuer, clock: clock)
        authorization = AuthorizationService(
            clients: stores.clients, pushed: stores.pushed, codes: stores.codes, validator: requestObjects, idTokens: idTokens, issuer: Self.issuer,
            clock: clock, keyRing: credentials.keyRing, audit: stores.audit, entropy: entropy)
        pushed = PushedAuthorizationService(
            authenticator: authenticator, validator: requestObjects, store: stores.pushed, clock: clock, entropy: entropy, dpop: dpop)
        backchannel = BackchannelAuthenticationService(
            authenticator: authenticator, keys: keys, replay: stores.tokens, users: stores.users, store: stores.ciba, keyRing: credentials.keyRing,
            issuer: Self.issuer, clock: clock, entropy: entropy)
        introspection = IntrospectionService(tokens: stores.tokens, resourceServers: stores.clients, issuer: Self.issuer, clock: clock)
        revocation = RevocationService(authenticator: authenticator, tokens: stores.tokens, refreshTokens: stores.codes, clock: clock)
        userinfo = UserinfoService(tokens: stores.tokens, clock: clock, dpop: dpop)
        let directory = TrustedDirectory(
            name: "test-directory", issuer: "https://directory.example", keys: .set(JWKSet(keys: [try JWK(key: credentials.directorySigner.key, kid: "directory-key")])),
            transportCAs: credentials.trust, roleScopes: TrustedDirectory.defaultRoleScopes)
        registration = RegistrationService(
            directories: [directory], clients: stores.clients, registrations: stores.registrations, replay: stores.tokens, fetcher: OfflineFetcher(),
            status: nil, settings: RegistrationService.Settings(issuer: Self.issuer), clock: clock, entropy: entropy)
    }

    // MARK: Clients

    /// Registers a client; `metadata` adds to (or overrides) a FAPI client of `method` with the client key in its `jwks`.
    /// Its response types are its profile's (`code id_token` and `code`; for a FAPI 2 `fapi_profile`, `code`).
    @discardableResult
    func register(
        _ clientID: String, method: ClientAuthMethod = .tlsClientAuth, grants: [String], _ metadata: [String: JSON] = [:]
    ) async throws -> Client {
        let profile = metadata[FAPIProfile.metadataMember]?.stringValue.flatMap(FAPIProfile.init(rawValue:)) ?? .fapi1Advanced
        var members: [String: JSON] = [
            "token_endpoint_auth_method": .string(method.rawValue), "grant_types": .array(grants.map { .string($0) }),
            "redirect_uris": [.string(Self.redirectURI)], "scope": "openid accounts payments",
            "response_types": .array(["code id_token", "code"].filter(profile.policy.responseTypes.contains).map { .string($0) }),
        ]
        var keys = [try credentials.clientJWK]
        switch method {
        case .tlsClientAuth: members["tls_client_auth_subject_dn"] = .string(credentials.tpp[0].subjectDN)
        case .selfSignedTLSClientAuth: keys.append(try credentials.selfSignedJWK)
        case .privateKeyJWT: break
        }
        members["jwks"] = CoreCredentials.jwks(keys)
        members.merge(metadata) { $1 }
        let client = try Client(clientID: clientID, metadata: members, createdAt: clock.now())
        try await stores.clients.insertClient(client, audit: nil)
        return client
    }

    /// A user the PSU and CIBA paths can name (CIBA only checks that the user exists).
    func addUser(_ username: String) async throws {
        try await stores.users.insertUser(User(username: username, passwordHash: "unused", createdAt: clock.now()))
    }

    // MARK: What a client sends

    /// The certificate `chain` presented on the request, as evaluated now.
    func certificate(_ chain: [X509Certificate]) -> ClientCertificate { credentials.certificate(chain, at: clock.now()) }

    /// Credentials of an mTLS client presenting `chain` (the TPP's certificate by default).
    func mtls(_ clientID: String, _ chain: [X509Certificate]? = nil, endpoint: ClientAuthEndpoint = .token) -> ClientCredentials {
        ClientCredentials(
            clientID: clientID, assertionType: nil, assertion: nil, certificate: certificate(chain ?? credentials.tpp), hasAuthorizationHeader: false,
            endpoint: endpoint)
    }

    /// Credentials of a `private_key_jwt` client: an assertion signed with `signer` (the client key), with
    /// `claims` replacing the defaults (`aud` the issuer, `exp` in 60 s, a fresh `jti`).
    func assertion(
        _ clientID: String, _ claims: [String: JSON] = [:], signer: SigningKey? = nil, certificate chain: [X509Certificate]? = nil,
        endpoint: ClientAuthEndpoint = .token
    ) throws -> ClientCredentials {
        let now = Int64(clock.now().timeIntervalSince1970)
        var members: [String: JSON] = [
            "iss": .string(clientID), "sub": .string(clientID), "aud": .string(Self.issuer), "iat": .int(now), "exp": .int(now + 60),
            "jti": .string(UUID().uuidString),
        ]
        members.merge(claims) { $1 }
        return ClientCredentials(
            clientID: clientID, assertionType: ClientAuthenticator.jwtBearerAssertionType,
            assertion: try (signer ?? credentials.clientSigner).sign(claims: members), certificate: chain.map(certificate), hasAuthorizationHeader: false,
            endpoint: endpoint)
    }

    /// PKCE: a verifier and its S256 challenge.
    static let verifier = String(repeating: "v", count: 43)
    static let challenge = Base64URL.encode(Crypto.sha256(verifier))

    /// A request object (RFC 9101) of `clientID` for the hybrid flow with PKCE, `claims` replacing the defaults;
    /// a claim set to `.null` is left out.
    func requestObject(_ clientID: String, _ claims: [String: JSON] = [:], signer: SigningKey? = nil) throws -> String {
        let now = Int64(clock.now().timeIntervalSince1970)
        var members: [String: JSON] = [
            "iss": .string(clientID), "aud": .string(Self.issuer), "exp": .int(now + 300), "nbf": .int(now), "jti": .string(UUID().uuidString),
            "client_id": .string(clientID), "response_type": "code id_token", "redirect_uri": .string(Self.redirectURI), "scope": "openid accounts",
            "nonce": "n-0S6_WzA2Mj", "state": "af0ifjsldkj", "code_challenge": .string(Self.challenge), "code_challenge_method": "S256",
        ]
        members.merge(claims) { $1 }
        return try (signer ?? credentials.clientSigner).sign(claims: members.filter { $0.value != .null })
    }

    /// Pushes a request object for `clientID` (mTLS) and returns its `request_uri`.
    func push(_ clientID: String, _ claims: [String: JSON] = [:]) async throws -> String {
        try await pushed.push(parameters: ["request": try requestObject(clientID, claims)], credentials: mtls(clientID, endpoint: .pushedAuthorization))
            .requestURI
    }

    /// Stores an authorization code for `clientID` as an approval would, and returns its value.
    func storeCode(_ clientID: String, subject: String = "alice", scope: String = "openid accounts", challenge: String = Core.challenge) async throws
        -> String
    {
        let code = "code-\(UUID().uuidString)"
        try await stores.codes.insertCode(
            AuthorizationCodeRecord(
                codeHash: Crypto.sha256(code), clientID: clientID, subject: subject, redirectURI: Self.redirectURI, scope: scope, codeChallenge: challenge,
                nonce: "n-1", authTime: clock.now(), acr: nil, claims: nil, expiresAt: clock.now().addingTimeInterval(60)),
            audit: nil)
        return code
    }

    /// The token endpoint for `clientID` over mTLS.
    func tokenRequest(_ clientID: String, _ parameters: [String: String], _ chain: [X509Certificate]? = nil) async throws -> TokenResponse {
        try await token.token(parameters: parameters, credentials: mtls(clientID, chain))
    }

    /// Redeems a fresh code of `clientID` and returns the token response (access, refresh and ID Token).
    func codeTokens(_ clientID: String) async throws -> TokenResponse {
        let code = try await storeCode(clientID)
        return try await tokenRequest(
            clientID, ["grant_type": "authorization_code", "code": code, "redirect_uri": Self.redirectURI, "code_verifier": Self.verifier])
    }

    /// The stored record of an access token value.
    func accessToken(_ value: String) async throws -> AccessTokenRecord? { try await stores.tokens.accessToken(hash: TokenIssuer.hash(value)) }

    /// The `type` of every audit event recorded so far, in order.
    func auditTypes() async throws -> [String] { try await stores.audit.rows(after: 0).compactMap { $0.values["type"] } }

    /// The claims of a JWT the server signed, after checking its signature with the published keys.
    func verifiedClaims(_ token: String) throws -> JWTClaims {
        let jws = try CompactJWS(token)
        _ = try jws.verify(with: JWKSet(keys: credentials.keyRing.snapshot.published), allowed: [.PS256, .ES256])
        return try jws.claims()
    }
}

/// What a CIBA test needs: a FAPI poll client, a ping client, a user, and signed authentication requests.
struct CIBAFixture {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register(
            "ciba", grants: [CIBAGrant.grantTypeURN], ["backchannel_token_delivery_mode": "poll", "response_types": ["code id_token"]])
        try await core.register(
            "ping", grants: [CIBAGrant.grantTypeURN],
            ["backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": "https://tpp.example/notify"])
        try await core.register("web", grants: ["authorization_code"])
        try await core.addUser("alice")
    }

    /// A signed authentication request (CIBA Core §7.1.1) of `clientID`, `claims` replacing the defaults; `.null` drops one.
    func signedRequest(_ claims: [String: JSON] = [:], client clientID: String = "ciba") throws -> String {
        let now = Int64(core.clock.now().timeIntervalSince1970)
        var members: [String: JSON] = [
            "iss": .string(clientID), "aud": .string(Core.issuer), "iat": .int(now), "nbf": .int(now), "exp": .int(now + 300),
            "jti": .string(UUID().uuidString), "scope": "openid accounts", "login_hint": "alice", "binding_message": "W4SCT",
        ]
        members.merge(claims) { $1 }
        return try core.credentials.clientSigner.sign(claims: members.filter { $0.value != .null })
    }

    func request(_ claims: [String: JSON] = [:], client clientID: String = "ciba") async throws -> BackchannelAuthenticationService.Acknowledgement {
        try await core.backchannel.request(
            parameters: ["request": try signedRequest(claims, client: clientID)], credentials: core.mtls(clientID, endpoint: .backchannelAuthentication))
    }

    func poll(_ authReqID: String, client: String = "ciba") async throws -> TokenResponse {
        try await core.tokenRequest(client, ["grant_type": CIBAGrant.grantTypeURN, "auth_req_id": authReqID])
    }

    /// The staff decision on the only pending request.
    @discardableResult
    func decide(approve: Bool) async throws -> Bool {
        let pending = try await core.stores.ciba.pendingCIBARequests(now: core.clock.now())
        let id = try #require(pending.first?.id)
        return try await core.stores.ciba.decideCIBARequest(id: id, approve: approve, by: "staff-1", now: core.clock.now())
    }
}

/// The wire error code `body` fails with (`invalid_grant`, `slow_down`, `invalid_software_statement`…), whichever
/// the service throws (`OAuthError`, or an `AuthorizationError` wrapping one); nil when it succeeds.
func failure<T>(_ body: () async throws -> T) async -> String? {
    do {
        _ = try await body()
        return nil
    } catch let error as OAuthError {
        return error.code.rawValue
    } catch let error as AuthorizationError {
        return error.error.code.rawValue
    } catch {
        return "unexpected: \(error)"
    }
}

/// The query or fragment members of an authorization response redirect.
func responseMembers(_ response: AuthorizationResponse) -> [String: String] {
    guard case .redirect(let url) = response else { return [:] }
    let text = url.absoluteString
    guard let start = text.firstIndex(where: { $0 == "#" || $0 == "?" }) else { return [:] }
    var members: [String: String] = [:]
    for pair in text[text.index(after: start)...].split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
        if parts.count == 2 { members[parts[0]] = parts[1] }
    }
    return members
}
