public import AuthorizationServer
public import CertificateStatus
import Foundation
import OpenSSLKit
public import Logging
public import ServiceLifecycle
import Synchronization

/// The core's `CertificateStatusPolicy` over the CertificateStatus module: runs the OCSP→CRL check on
/// chain-verified certificates and applies the configured policy; soft-fails are logged and counted.
public final class RevocationPolicy: CertificateStatusPolicy, Service {
    public let checker: CertificateStatusChecker
    let policy: StatusPolicy
    let logger: Logger
    let refreshInterval: Duration
    private let softFails = Mutex(0)
    /// Where revoked certificates met are recorded (once per certificate and process).
    public let audit: (any AuditLog)?
    private let recordedRevoked = Mutex<Set<String>>([])
    /// The answer each leaf was last accepted on (`lastAnswer`), at most 10,000 certificates.
    private let answers = Mutex<[String: String]>([:])

    public init(
        checker: CertificateStatusChecker, policy: StatusPolicy, logger: Logger, refreshInterval: Duration = .seconds(30), audit: (any AuditLog)? = nil
    ) {
        self.audit = audit
        self.checker = checker
        self.policy = policy
        self.logger = logger
        self.refreshInterval = refreshInterval
    }

    /// Builds the checker and policy from the configuration.
    public static func make(
        _ configuration: FapidConfiguration, fetcher: any StatusFetcher, store: (any StatusCacheStore)? = nil, logger: Logger,
        audit: (any AuditLog)? = nil
    ) throws -> RevocationPolicy {
        let trust = try CertificateTrustStore(pemFile: configuration.clientCA)
        var settings = CertificateStatusChecker.Settings()
        settings.ocspResponder = configuration.ocspResponder
        settings.maximumCacheLifetime = TimeInterval(configuration.certificateStatusCacheSeconds)
        settings.defaultCacheLifetime = min(settings.defaultCacheLifetime, settings.maximumCacheLifetime)
        settings.skew = TimeInterval(configuration.certificateStatusSkewSeconds)
        settings.maximumOCSPAge = TimeInterval(configuration.ocspMaxAgeSeconds ?? configuration.certificateStatusCacheSeconds)
        settings.requireOCSPNonce = configuration.ocspRequireNonce
        for path in configuration.ocspRequireNonceAnchors {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(key: "ocsp_require_nonce_anchors", reason: "cannot read \(path)")
            }
            for anchor in try X509Certificate.parsePEM(text) { settings.nonceRequiringAnchors.insert(anchor.sha256Thumbprint) }
        }
        var anchorModes: [String: StatusPolicy.Mode] = [:]
        for path in configuration.certificateStatusSoftFailAnchors {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(key: "certificate_status_soft_fail_anchors", reason: "cannot read \(path)")
            }
            for anchor in try X509Certificate.parsePEM(text) { anchorModes[anchor.sha256Thumbprint] = .softFail }
        }
        let policy = StatusPolicy(
            mode: configuration.certificateStatusMode,
            anchorModes: anchorModes,
            requirePointers: configuration.certificateStatusRequirePointers
        )
        return RevocationPolicy(
            checker: CertificateStatusChecker(fetcher: fetcher, trustStore: trust, settings: settings, store: store), policy: policy,
            logger: logger,
            refreshInterval: .seconds(configuration.certificateStatusRefreshSeconds),
            audit: audit
        )
    }

    public var softFailCount: Int { softFails.withLock { $0 } }

    public func check(_ certificate: ClientCertificate) async throws(OAuthError) {
        guard certificate.isChainVerified else { return }
        // The issuer is the next certificate on the verified path (leaf … anchor).
        guard certificate.verifiedChain.count >= 2 else { return }
        // RFC 5280 §6.3: every certificate of the path but the anchor, the leaf first, each against its issuer.
        let chain = certificate.verifiedChain
        let outcomes = await checker.check(chain: chain)
        for (index, outcome) in outcomes.enumerated() {
            let subject = chain[index].subjectDN
            switch policy.decide(outcome, anchorThumbprint: chain.last?.sha256Thumbprint) {
            case .accept:
                continue
            case .acceptUnverified(.noPointers):
                continue
            case .acceptUnverified(let reason):
                // A soft-fail: no source answered, and the anchor's policy accepts that.
                softFails.withLock { $0 += 1 }
                logger.warning("certificate accepted without a verified status", metadata: ["subject": "\(subject)", "reason": "\(reason)"])
            case .reject(let reason):
                if case .known(.revoked, _) = outcome {
                    await recordRevoked(certificate, reason: index == 0 ? reason : "issuing CA \(subject): \(reason)")
                }
                let which = index == 0 ? "certificate \(subject)" : "issuing CA certificate \(subject) of \(certificate.certificate.subjectDN)"
                throw OAuthError.invalidClient(.certificateStatus, "\(which): \(reason)")
            }
        }
        remember(outcomes.first, for: certificate.thumbprint)
    }

    /// Keeps the leaf's accepted answer in words: its status and source (OCSP or CRL URL, or the cache of one), or
    /// why it was accepted without one, and when.
    private func remember(_ outcome: StatusOutcome?, for thumbprint: String) {
        guard let outcome else { return }
        let answer: String
        switch outcome {
        case .known(let status, let source): answer = "\(status) \(source)"
        case .unknown(let reasons): answer = "unverified (soft-fail): " + reasons.joined(separator: "; ")
        }
        let text = String((answer + " at " + Date().formatted(.iso8601)).prefix(240))
        answers.withLock { answers in
            if answers.count >= 10_000 { answers.removeAll(keepingCapacity: true) }
            answers[thumbprint] = text
        }
    }

    public func lastAnswer(thumbprint: String) -> String? {
        answers.withLock { $0[thumbprint] }
    }

    private func recordRevoked(_ certificate: ClientCertificate, reason: String) async {
        guard let audit else { return }
        let thumbprint = certificate.thumbprint
        let first = recordedRevoked.withLock { seen in
            if seen.count >= 10_000 { seen.removeAll(keepingCapacity: true) }
            return seen.insert(thumbprint).inserted
        }
        guard first else { return }
        await audit.record(
            AuditEvent(
                .certificateRevoked, at: Date(), certificateThumbprint: thumbprint, outcome: .failure,
                reason: "\(certificate.certificate.subjectDN): \(reason)")
        ) { error in logger.error("audit append failed", metadata: ["reason": "\(error)"]) }
    }

    public func isRevoked(thumbprint: String) -> Bool {
        checker.isKnownRevoked(thumbprint: thumbprint)
    }

    /// Keeps cached answers and CRLs fresh in the background.
    public func run() async throws {
        await runPeriodically(every: refreshInterval) { await checker.refresh(window: 60) }
    }
}
