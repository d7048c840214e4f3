public import Foundation
public import OpenSSLKit
import Synchronization

/// Answers "is this certificate revoked?" — OCSP first, the CRL when OCSP gives no verified answer —
/// and remembers the answers: OCSP results until their `nextUpdate` (capped), CRLs per URL until theirs.
/// Concurrent checks of one certificate share one fetch. A check with a warm cache does no I/O.
/// `check(chain:)` checks every certificate of a verified path but its anchor (RFC 5280 §6.3).
public final class CertificateStatusChecker: Sendable {
    public struct Settings: Sendable {
        /// Clock tolerance for `thisUpdate` / `nextUpdate`.
        public var skew: TimeInterval = 300
        /// Longest time an answer is reused, whatever its `nextUpdate` says.
        public var maximumCacheLifetime: TimeInterval = 3600
        /// Used when an OCSP answer has no `nextUpdate`.
        public var defaultCacheLifetime: TimeInterval = 300
        /// The oldest `thisUpdate` accepted in an OCSP answer without `nextUpdate` (RFC 5019 §4).
        public var maximumOCSPAge: TimeInterval = 3600
        /// Refuse OCSP answers that do not echo the request's nonce (RFC 6960 §4.4.1), for every anchor.
        public var requireOCSPNonce = false
        /// Anchors (by `x5t#S256`) whose certificates' OCSP answers must echo the nonce.
        public var nonceRequiringAnchors: Set<String> = []
        /// Overrides the certificate's AIA responder when set.
        public var ocspResponder: String?
        public var maximumOCSPResponseSize = 64 * 1024
        public var maximumCRLSize = 16 * 1024 * 1024
        /// Bound on cached certificate answers.
        public var maximumEntries = 100_000

        public init() {}
    }

    struct Entry: Sendable {
        let status: RevocationStatus
        let source: StatusSource
        let until: Date
        let leaf: X509Certificate
        let issuer: X509Certificate
        /// Whether the answer was got with OCSP nonces required (or from a CRL, which has none to require).
        let meetsNonceRequirement: Bool
    }

    let fetcher: any StatusFetcher
    let trustStore: CertificateTrustStore
    let settings: Settings
    let now: @Sendable () -> Date
    let store: (any StatusCacheStore)?
    private let entries = Mutex<[String: Entry]>([:])
    private let crls = Mutex<[String: CertificateRevocationList]>([:])
    private let inFlight = Mutex<[String: Task<StatusOutcome, Never>]>([:])
    private let counters = Mutex<Counters>(Counters())

    /// Fetches, hits and fallbacks, for metrics and logs.
    public struct Counters: Sendable, Equatable {
        public var cacheHits = 0
        public var cacheMisses = 0
        public var ocspFetches = 0
        public var ocspFailures = 0
        public var crlFetches = 0
        public var crlFailures = 0
        public var fallbacks = 0

        public init() {}
    }

    public init(
        fetcher: any StatusFetcher,
        trustStore: CertificateTrustStore,
        settings: Settings = Settings(),
        store: (any StatusCacheStore)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.fetcher = fetcher
        self.trustStore = trustStore
        self.settings = settings
        self.store = store
        self.now = now
    }

    /// Loads the persisted answers still valid; returns how many. Unparsable rows are skipped.
    @discardableResult
    public func restore() async throws -> Int {
        guard let store else { return 0 }
        let saved = try await store.loadStatuses(now: now())
        var restored: [String: Entry] = [:]
        for row in saved {
            guard let leaf = try? X509Certificate(der: row.leafDER), let issuer = try? X509Certificate(der: row.issuerDER),
                leaf.sha256Thumbprint == row.thumbprint
            else { continue }
            let source: StatusSource = row.sourceKind == "crl" ? .crl(row.sourceURL) : .ocsp(row.sourceURL)
            // Whether a persisted OCSP answer carried our nonce is not recorded: where nonces are required, it is asked again.
            restored[row.thumbprint] = Entry(
                status: row.status, source: source, until: row.until, leaf: leaf, issuer: issuer, meetsNonceRequirement: row.sourceKind == "crl")
        }
        entries.withLock { all in all.merge(restored) { current, _ in current } }
        return restored.count
    }

    public var statistics: Counters { counters.withLock { $0 } }

    /// Whether a cached answer says the certificate with this `x5t#S256`, or a CA certificate above it on
    /// the path it was checked with, is revoked.
    public func isKnownRevoked(thumbprint: String) -> Bool {
        entries.withLock { all in
            var current = thumbprint
            // Leaf, intermediates: a path is short; the bound only guards against a cycle of cross-certificates.
            for _ in 0..<8 {
                guard let entry = all[current] else { return false }
                if case .revoked = entry.status { return true }
                let next = entry.issuer.sha256Thumbprint
                if next == current { return false }
                current = next
            }
            return false
        }
    }

    /// The status of every certificate of a verified path (leaf first, anchor last) but the anchor, which
    /// is trusted as configured: one outcome per certificate, in path order, checked concurrently.
    /// OCSP nonces are required when the settings require them for every anchor or for this one.
    public func check(chain: [X509Certificate]) async -> [StatusOutcome] {
        guard chain.count >= 2 else { return [] }
        let requireNonce = settings.requireOCSPNonce || settings.nonceRequiringAnchors.contains(chain[chain.count - 1].sha256Thumbprint)
        return await withTaskGroup(of: (Int, StatusOutcome).self) { group in
            for index in 0..<(chain.count - 1) {
                // The configured responder (`ocsp_responder`) answers for client certificates; a CA certificate above
                // them is asked at its own pointers.
                group.addTask {
                    (index, await self.check(leaf: chain[index], issuer: chain[index + 1], requireNonce: requireNonce, useResponderOverride: index == 0))
                }
            }
            var outcomes = [StatusOutcome](repeating: .unknown([]), count: chain.count - 1)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
    }

    /// The status of `leaf`, issued by `issuer`. `requireNonce` defaults to the server-wide setting.
    public func check(leaf: X509Certificate, issuer: X509Certificate, requireNonce: Bool? = nil, useResponderOverride: Bool = true) async
        -> StatusOutcome
    {
        let requireNonce = requireNonce ?? settings.requireOCSPNonce
        let key = leaf.sha256Thumbprint
        let current = now()
        if let entry = entries.withLock({ $0[key] }), entry.until > current, entry.meetsNonceRequirement || !requireNonce {
            counters.withLock { $0.cacheHits += 1 }
            return .known(entry.status, .cache(underlying: entry.source.description))
        }
        counters.withLock { $0.cacheMisses += 1 }
        let flightKey = requireNonce ? key + " nonce" : key
        let task = inFlight.withLock { running -> Task<StatusOutcome, Never> in
            if let task = running[flightKey] { return task }
            let task = Task {
                await self.fetchStatus(leaf: leaf, issuer: issuer, requireNonce: requireNonce, useResponderOverride: useResponderOverride)
            }
            running[flightKey] = task
            return task
        }
        let outcome = await task.value
        inFlight.withLock { _ = $0.removeValue(forKey: flightKey) }
        return outcome
    }

    /// Asks the sources again, ignoring the cache (used by the background refresher and `fapictl`).
    public func fetchStatus(leaf: X509Certificate, issuer: X509Certificate, requireNonce: Bool? = nil, useResponderOverride: Bool = true) async
        -> StatusOutcome
    {
        let requireNonce = requireNonce ?? settings.requireOCSPNonce
        let pointers = StatusPointers(of: leaf)
        let responders = (useResponderOverride ? settings.ocspResponder.map { [$0] } : nil) ?? pointers.ocsp
        guard !responders.isEmpty || !pointers.crl.isEmpty else { return .known(.good, .noPointers) }
        var failures: [String] = []
        for url in responders {
            do {
                let (status, until) = try await ocsp(url, leaf: leaf, issuer: issuer, requireNonce: requireNonce)
                await remember(leaf: leaf, issuer: issuer, status: status, source: .ocsp(url), until: until, meetsNonceRequirement: requireNonce)
                return .known(status, .ocsp(url))
            } catch {
                counters.withLock { $0.ocspFailures += 1 }
                failures.append("ocsp \(url): \(error)")
            }
        }
        if !responders.isEmpty { counters.withLock { $0.fallbacks += 1 } }
        for url in pointers.crl {
            do {
                let crl = try await currentCRL(url, issuer: issuer)
                try crl.checkScope(of: leaf, distributionPoints: pointers.crl)
                let status = crl.status(of: leaf)
                let until = min(crl.nextUpdate ?? now(), now().addingTimeInterval(settings.maximumCacheLifetime))
                await remember(leaf: leaf, issuer: issuer, status: status, source: .crl(url), until: until, meetsNonceRequirement: true)
                return .known(status, .crl(url))
            } catch {
                counters.withLock { $0.crlFailures += 1 }
                failures.append("crl \(url): \(error)")
            }
        }
        return .unknown(failures)
    }

    private func ocsp(
        _ url: String, leaf: X509Certificate, issuer: X509Certificate, requireNonce: Bool
    ) async throws(StatusSourceFailure) -> (RevocationStatus, Date) {
        let exchange = try OCSPExchange(leaf: leaf, issuer: issuer)
        counters.withLock { $0.ocspFetches += 1 }
        let body = try await fetcher.post(
            url, body: exchange.requestDER, contentType: "application/ocsp-request", maximumSize: settings.maximumOCSPResponseSize)
        let current = now()
        let requirements = OCSPExchange.Requirements(skew: settings.skew, maximumAge: settings.maximumOCSPAge, requireNonce: requireNonce)
        let answer = try exchange.evaluate(body, trustStore: trustStore, now: current, requirements: requirements)
        let next = answer.nextUpdate ?? current.addingTimeInterval(settings.defaultCacheLifetime)
        return (answer.status, min(next, current.addingTimeInterval(settings.maximumCacheLifetime)))
    }

    /// The CRL at `url`: the cached one while it is current, otherwise fetched and verified.
    private func currentCRL(_ url: String, issuer: X509Certificate) async throws(StatusSourceFailure) -> CertificateRevocationList {
        if let cached = crls.withLock({ $0[url] }), (try? cached.verify(issuer: issuer, now: now(), skew: 0)) != nil {
            return cached
        }
        return try await refreshCRL(url, issuer: issuer)
    }

    @discardableResult
    func refreshCRL(_ url: String, issuer: X509Certificate) async throws(StatusSourceFailure) -> CertificateRevocationList {
        counters.withLock { $0.crlFetches += 1 }
        let der = try await fetcher.get(url, maximumSize: settings.maximumCRLSize)
        let crl = try CertificateRevocationList(der: der)
        try crl.verify(issuer: issuer, now: now(), skew: settings.skew)
        // RFC 5280 §5.2.3: CRL numbers only grow; an older CRL served again (a replay, or a lagging mirror)
        // must not displace the newer one, nor decide while it is cached.
        let accepted = crls.withLock { all -> Bool in
            if let cached = all[url], !crl.mayReplace(cached) { return false }
            all[url] = crl
            return true
        }
        guard accepted else { throw StatusSourceFailure("CRL number lower than the cached CRL's (an older CRL)") }
        return crl
    }

    private func remember(
        leaf: X509Certificate, issuer: X509Certificate, status: RevocationStatus, source: StatusSource, until: Date, meetsNonceRequirement: Bool
    ) async {
        // A revocation is final for this certificate: keep it until the certificate expires.
        let keep: Date
        if case .revoked = status { keep = max(until, leaf.notAfter ?? until) } else { keep = until }
        entries.withLock { all in
            if all.count >= settings.maximumEntries {
                let current = now()
                all = all.filter { $0.value.until > current }
                if all.count >= settings.maximumEntries { all.removeAll(keepingCapacity: true) }
            }
            all[leaf.sha256Thumbprint] = Entry(
                status: status, source: source, until: keep, leaf: leaf, issuer: issuer, meetsNonceRequirement: meetsNonceRequirement)
        }
        guard let store else { return }
        let (kind, url): (String, String) =
            switch source {
            case .crl(let url): ("crl", url)
            case .ocsp(let url): ("ocsp", url)
            default: ("ocsp", "")
            }
        // Persistence is best effort: the answer is already in memory, and a failed write only costs a
        // fetch after the next restart.
        try? await store.saveStatus(
            PersistedStatus(
                thumbprint: leaf.sha256Thumbprint, status: status, sourceKind: kind, sourceURL: url, until: keep, leafDER: leaf.der,
                issuerDER: issuer.der),
            now: now()
        )
    }

    /// Re-checks cached answers that expire within `window`, and refetches CRLs due within it, so that
    /// a revocation reaches bound tokens without waiting for the certificate to be presented again.
    public func refresh(window: TimeInterval) async {
        let horizon = now().addingTimeInterval(window)
        let due = entries.withLock { $0.values.filter { $0.until <= horizon && !Self.isRevoked($0.status) } }
        for entry in due {
            let requireNonce = settings.requireOCSPNonce || (entry.meetsNonceRequirement && Self.isOCSP(entry.source))
            // The override responder is asked again only for what it answered before (client certificates).
            let fromOverride = settings.ocspResponder == nil || entry.source == .ocsp(settings.ocspResponder ?? "")
            _ = await fetchStatus(leaf: entry.leaf, issuer: entry.issuer, requireNonce: requireNonce, useResponderOverride: fromOverride)
        }
        let crlsDue = crls.withLock { $0.filter { ($0.value.nextUpdate ?? horizon) <= horizon }.map(\.key) }
        for url in crlsDue {
            guard let issuer = entries.withLock({ $0.values.first { if case .crl(url) = $0.source { true } else { false } }?.issuer }) else {
                crls.withLock { _ = $0.removeValue(forKey: url) }
                continue
            }
            _ = try? await refreshCRL(url, issuer: issuer)
        }
    }

    static func isRevoked(_ status: RevocationStatus) -> Bool {
        if case .revoked = status { true } else { false }
    }

    static func isOCSP(_ source: StatusSource) -> Bool {
        if case .ocsp = source { true } else { false }
    }
}
