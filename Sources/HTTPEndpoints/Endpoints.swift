public import AuthorizationServer
import Foundation
import HTTPTypes
public import Hummingbird
import JOSE
import NIOCore

/// The HTTP endpoints and what they share. Each endpoint stays a thin adapter: parse HTTP,
/// call the core, write the answer.
public struct Endpoints: Sendable {
    public let metadata: ServerMetadata
    public let keyRing: KeyRing
    public let certificates: ClientCertificateSource
    let tokenServices: TokenEndpointServices?
    let registration: RegistrationService?
    let psu: PSUServices?
    /// Whether the database answers (nil: not checked).
    let databaseProbe: (@Sendable () async -> Bool)?
    /// The discovery document, serialized once.
    let metadataDocument: [UInt8]
    /// `Cache-Control` of `/jwks` and discovery (`jwks_max_age_seconds`).
    let cacheControl: String

    init(
        metadata: ServerMetadata, keyRing: KeyRing, certificates: ClientCertificateSource, tokenServices: TokenEndpointServices?,
        registration: RegistrationService?, psu: PSUServices?, databaseProbe: (@Sendable () async -> Bool)? = nil,
        cacheControl: String = "public, max-age=300"
    ) {
        self.cacheControl = cacheControl
        self.databaseProbe = databaseProbe
        self.registration = registration
        self.psu = psu
        self.metadata = metadata
        self.keyRing = keyRing
        self.certificates = certificates
        self.tokenServices = tokenServices
        metadataDocument = metadata.document.bytes
    }

    func register(on router: Router<FapidRequestContext>) {
        // OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: the same document at both well-known paths.
        router.get("/.well-known/openid-configuration") { _, _ in self.discovery() }
        router.get("/.well-known/oauth-authorization-server") { _, _ in self.discovery() }
        router.get("/jwks") { _, _ in
            JSONResponse.make(bytes: self.keyRing.snapshot.jwksDocument, cache: self.cacheControl)
        }
        router.get("/healthz") { _, _ in await self.health() }
        if let tokenServices { registerTokenEndpoints(tokenServices, on: router) }
        if let registration { registerRegistrationEndpoints(registration, on: router) }
        if let psu { registerPSUEndpoints(psu, on: router) }
    }

    func discovery() -> Response {
        JSONResponse.make(bytes: metadataDocument, cache: cacheControl)
    }

    /// Ready when every required signing key is loaded, every `active` and `next` key could be loaded and (in a token)
    /// signed at its last probe, and the database answers; 503 naming what is not (the failing kids).
    func health() async -> Response {
        let now = keyRing.now()
        let snapshot = keyRing.snapshot
        let signers = snapshot.signers(at: now)
        let loaded = SigningAlgorithmsReady.required.allSatisfy { signers[$0] != nil }
        let failing = Set(keyRing.health.failing(among: snapshot.activeAndNext(at: now).map(\.record.kid)))
            .union(snapshot.records.filter { [.active, .next].contains($0.state(at: now)) && snapshot.unloadable[$0.kid] != nil }.map(\.kid))
            .sorted()
        let keysReady = loaded && failing.isEmpty
        let databaseReady = await databaseProbe?() ?? true
        let keys = !loaded ? "not loaded" : failing.isEmpty ? "ok" : "cannot sign: " + failing.joined(separator: ", ")
        let body: JSON = [
            "status": .string(keysReady && databaseReady ? "ok" : "unavailable"),
            "signing_keys": .string(keys),
            "database": .string(databaseReady ? "ok" : "not answering"),
        ]
        return JSONResponse.make(status: keysReady && databaseReady ? .ok : .serviceUnavailable, body)
    }

    /// The client certificate of this request, if the client presented one (or a trusted proxy passed it on).
    public func clientCertificate(_ request: Request, context: FapidRequestContext) async -> ClientCertificate? {
        await certificates.certificate(channel: context.channel, headers: request.headers, remoteAddress: context.remoteAddress)
    }
}

enum SigningAlgorithmsReady {
    static let required: [JWSAlgorithm] = [.PS256, .ES256]
}
