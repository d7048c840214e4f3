public import AuthorizationServer
import Foundation
public import Hummingbird
import OpenSSLKit
public import Logging
public import NIOCore
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// Assembles the HTTPS application: TLS with client certificates, the edge pipeline (`EdgePipeline`),
/// and the routes of every endpoint.
public struct FapidHTTPServer: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSSettings
        /// PEM file of the CAs trusted for `tls_client_auth`.
        public var clientCAPath: String
        public var trustedProxies: [String]
        /// `x5t#S256` thumbprints the trusted proxies must present as their own client certificate.
        public var trustedProxyCertificates: [String] = []
        public var deadlines: ConnectionDeadlines
        public var maxHeaderBytes: Int
        public var maxBodyBytes: Int
        /// `Cache-Control: max-age` of `/jwks` and discovery (`jwks_max_age_seconds`): shorter than the time a staged
        /// key is published before it signs, so a verifier honouring it has the key first.
        public var jwksMaxAgeSeconds: Int
        public var limits: RateLimits
        /// `/metrics` on the main port when set.
        public var metrics: MetricsEndpoint?

        public init(
            host: String, port: Int, tls: TLSSettings, clientCAPath: String, trustedProxies: [String], trustedProxyCertificates: [String] = [],
            deadlines: ConnectionDeadlines = .init(idle: .seconds(60), request: .seconds(10)), maxHeaderBytes: Int = 16_384,
            maxBodyBytes: Int = 65_536, jwksMaxAgeSeconds: Int = 300, limits: RateLimits = .none, metrics: MetricsEndpoint? = nil
        ) {
            self.host = host
            self.port = port
            self.tls = tls
            self.clientCAPath = clientCAPath
            self.trustedProxies = trustedProxies
            self.trustedProxyCertificates = trustedProxyCertificates
            self.deadlines = deadlines
            self.maxHeaderBytes = maxHeaderBytes
            self.maxBodyBytes = maxBodyBytes
            self.jwksMaxAgeSeconds = jwksMaxAgeSeconds
            self.limits = limits
            self.metrics = metrics
        }
    }

    public let settings: Settings
    public let endpoints: Endpoints

    public init(
        settings: Settings, metadata: ServerMetadata, keyRing: KeyRing, clock: any WallClock, tokenServices: TokenEndpointServices? = nil,
        registration: RegistrationService? = nil, psu: PSUServices? = nil, databaseProbe: (@Sendable () async -> Bool)? = nil
    ) throws {
        self.settings = settings
        let certificates = ClientCertificateSource(
            trustStore: try CertificateTrustStore(pemFile: settings.clientCAPath),
            trustedProxies: settings.trustedProxies,
            trustedProxyCertificates: settings.trustedProxyCertificates,
            clock: clock
        )
        endpoints = Endpoints(
            metadata: metadata, keyRing: keyRing, certificates: certificates, tokenServices: tokenServices, registration: registration, psu: psu,
            databaseProbe: databaseProbe, cacheControl: "public, max-age=\(settings.jwksMaxAgeSeconds)")
    }

    /// The Hummingbird application. `configureRoutes` lets tests add routes beside the real ones.
    public func makeApplication(
        logger: Logger,
        services: [any Service] = [],
        configureRoutes: (Router<FapidRequestContext>, Endpoints) -> Void = { _, _ in },
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = Router(context: FapidRequestContext.self)
        endpoints.register(on: router)
        configureRoutes(router, endpoints)
        let sslContext = try NIOSSLContext(configuration: try settings.tls.makeConfiguration())
        HTTPLimits.maximumBodySize.store(settings.maxBodyBytes, ordering: .relaxed)
        return Application(
            responder: EdgePipeline.responder(
                router: router.buildResponder(), certificates: endpoints.certificates, limits: settings.limits, metrics: settings.metrics),
            server: .mtls(context: sslContext, deadlines: settings.deadlines, maxHeaderBytes: settings.maxHeaderBytes),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger
        )
    }
}
