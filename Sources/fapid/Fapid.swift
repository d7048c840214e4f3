import ArgumentParser
import AuthorizationServer
import FapidRuntime
import Foundation
import HTTPEndpoints
import Hummingbird
import Logging
import CertificateStatus
import JOSE
import ServiceLifecycle

@main
struct Fapid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fapid",
        abstract: "OAuth 2.0 / OpenID Connect FAPI authorization server for open banking."
    )

    @Option(name: .long, help: "JSON configuration file; FAPID_* environment variables override it.")
    var config: String?

    func run() async throws {
        let configuration: FapidConfiguration
        do {
            configuration = try FapidConfiguration.load(file: config)
        } catch {
            FileHandle.standardError.write(Data("fapid: \(error)\n".utf8))
            throw ExitCode(2)
        }
        FapidLogging.bootstrap(format: configuration.logFormat)
        let logger = Runtime.logger("fapid", level: configuration.logLevel)
        do {
            try await serve(configuration, logger: logger)
        } catch let error as ExitCode {
            throw error
        } catch {
            logger.critical("fapid cannot start", metadata: ["reason": "\(error)"])
            FileHandle.standardError.write(Data("fapid: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func serve(_ configuration: FapidConfiguration, logger: Logger) async throws {
        let clock = SystemClock()
        // Before any key is loaded: a signing key's error counter is made (at 0) when it is.
        let registry = PrometheusMetrics.bootstrap()
        // Before anything that makes spans; nil (and no span anywhere) unless tracing_otlp_endpoint is set.
        let tracing = try TracingBackend.bootstrap(configuration, logger: logger)
        try PrivateKeyFile.checkPermissions(configuration.tlsPrivateKey)
        let runtime = try await Runtime.open(configuration, logger: logger, backgroundCheckpoints: true, sealCIBANotifications: true)
        let audit = runtime.storage.audit
        try await audit.append(
            AuditEvent(
                .configurationLoaded, at: clock.now(), user: OperatingSystemUser.name,
                reason: "fapid \(ProcessInfo.processInfo.processIdentifier) started: \(configuration.summary)"))
        try await runtime.signingKeys.ensureActiveKeys(generate: false, now: clock.now())
        let keyRing = KeyRing(pool: SigningKeyManager.signingPool(configuration))
        try await runtime.signingKeys.reload(keyRing, now: clock.now())

        let outbound = OutboundHTTPClient(
            extraRootsFile: configuration.outboundCA, timeoutSeconds: Int64(configuration.ocspTimeoutSeconds),
            addresses: OutboundAddressPolicy(allowPrivateNetworks: configuration.outboundAllowPrivateNetworks))
        let revocation = try RevocationPolicy.make(
            configuration, fetcher: outbound, store: runtime.storage.statusCache, logger: logger, audit: audit)
        let metrics = PrometheusMetrics(registry: registry, checker: revocation.checker, ciba: runtime.storage.ciba)
        let restored = try await revocation.checker.restore()
        if restored > 0 { logger.info("certificate status answers restored", metadata: ["count": "\(restored)"]) }
        // Fail closed: a key that cannot sign (a token absent, a wrong PIN) stops the daemon before it listens.
        try await SigningKeyProbe.requireSigning(keyRing, now: clock.now())
        let (services, psu, cibaTokens, grantTypes) = Self.tokenServices(
            configuration, runtime: runtime, keyRing: keyRing, fetcher: outbound, status: revocation, clock: clock,
            dpopNonces: try DPoPNonceKey.nonces(configuration))
        let directories = try configuration.loadDirectories(logger: logger)
        let registration = Self.registrationService(
            configuration, runtime: runtime, directories: directories, fetcher: outbound, status: revocation, clock: clock)
        let metadata = ServerMetadata(issuer: configuration.issuer).addingTokenEndpoints(grantTypes: grantTypes)
            .adding(["registration_endpoint": .string(configuration.issuer + "/register")])
            .addingPushedAuthorization(requirePushed: configuration.requirePushedAuthorizationRequests)
            .addingAuthorization()
            .addingBackchannelAuthentication()
            .addingGrantManagement()
            .addingIntrospectionResponseSigning(algorithms: services.introspectionJWT?.supportedAlgorithms() ?? [])
            .addingAuthorizationDetails(Self.authorizationDetailsPolicy(configuration, clock: clock))
        let server = try FapidHTTPServer(
            settings: .init(
                host: configuration.listenHost,
                port: configuration.listenPort,
                tls: TLSSettings(certificateChainPath: configuration.tlsCertificate, privateKeyPath: configuration.tlsPrivateKey),
                clientCAPath: configuration.clientCA,
                trustedProxies: configuration.trustedProxies,
                trustedProxyCertificates: configuration.trustedProxyCertificates,
                deadlines: ConnectionDeadlines(
                    idle: .seconds(Int64(configuration.idleTimeoutSeconds)), request: .seconds(Int64(configuration.requestTimeoutSeconds))),
                maxHeaderBytes: configuration.maxHeaderBytes,
                maxBodyBytes: configuration.maxBodyBytes,
                jwksMaxAgeSeconds: configuration.jwksMaxAgeSeconds,
                limits: RateLimits(
                    perClient: RateLimiter(rate: configuration.rateLimitClientPerSecond, burst: configuration.rateLimitClientBurst),
                    perAddress: RateLimiter(rate: configuration.rateLimitAddressPerSecond, burst: configuration.rateLimitAddressBurst),
                    authorize: RateLimiter(rate: configuration.rateLimitAuthorizePerSecond, burst: configuration.rateLimitAuthorizeBurst),
                    signIn: RateLimiter(rate: configuration.rateLimitSignInPerSecond, burst: configuration.rateLimitSignInBurst)),
                metrics: configuration.metricsListen == .main
                    ? MetricsEndpoint(render: metrics.render, trustedProxies: configuration.trustedProxies) : nil
            ),
            metadata: metadata,
            keyRing: keyRing,
            clock: clock,
            tokenServices: services,
            registration: registration,
            psu: psu,
            databaseProbe: { await runtime.storage.isAnswering() }
        )
        let refresher = KeyRingRefresher(
            manager: runtime.signingKeys,
            ring: keyRing,
            clock: clock,
            interval: .seconds(configuration.keyRefreshSeconds),
            logger: logger
        )
        // Transitions due while no instance ran (a staged key whose time came) are recorded before serving.
        await refresher.recordTransitions()
        let listen = configuration.listen
        let issuer = configuration.issuer
        var background: [any Service] = [
            AuditCheckpointer(
                log: audit, keyRing: keyRing, issuer: issuer, clock: clock, interval: .seconds(configuration.auditCheckpointSeconds), logger: logger),
        ]
        if case .sqlite(let database) = runtime.storage.backend { background.append(WALCheckpointer(database: database, logger: logger)) }
        if case .address(let host, let port) = configuration.metricsListen {
            background.append(try MetricsListener.make(host: host, port: port, metrics: metrics, logger: logger))
        }
        // The exporter first: services stop in reverse order, so it flushes after the server has stopped.
        let app = try server.makeApplication(logger: logger, services: (tracing.map { [$0] } ?? []) + background + [
                refresher, outbound, revocation,
                SigningKeyHealthMonitor(ring: keyRing, clock: clock, interval: .seconds(configuration.keyRefreshSeconds), logger: logger),
                ExpirySweeper(
                    tokens: runtime.tokens, interactions: runtime.storage.interactions, signInAttempts: runtime.storage.signInAttempts,
                    consents: runtime.storage.consents, clock: clock,
                    logger: logger),
                AdminSocket(
                    path: configuration.adminSocket, group: configuration.adminSocketGroup,
                    ciba: CIBADecisionService(
                        store: runtime.storage.ciba, clients: runtime.clients, clock: clock, consents: runtime.storage.consents),
                    consents: ConsentAdministration(consents: runtime.storage.consents, clock: clock), logger: logger),
                CIBANotifier(
                    delivery: CIBADelivery(
                        store: runtime.storage.ciba, clients: runtime.clients, tokens: cibaTokens, clock: clock,
                        lease: TimeInterval(configuration.cibaNotificationLeaseSeconds)), http: outbound,
                    logger: logger),
            ], onServerRunning: { _ in
            // Logged once the socket is bound, so a supervisor can wait for this line.
            logger.notice("fapid listening", metadata: ["listen": "\(listen)", "issuer": "\(issuer)"])
        })
        try await app.runService()  // graceful shutdown on SIGTERM and SIGINT
        logger.notice("fapid stopped")
    }
}
