public import AuthorizationServer
import Foundation
public import HTTPTypes
public import OpenSSLKit
import NIOCore
import NIOSSL
import Synchronization

/// Finds the client certificate of a request: from the TLS connection, or from the RFC 9440
/// `Client-Cert` header when (and only when) the connection comes from a configured trusted proxy.
///
/// Evaluations are cached by the presented chain for a short time, so a kept-alive client does not
/// cost a chain verification per request, while expiry and trust changes still take effect.
public final class ClientCertificateSource: Sendable {
    public static let clientCertHeader = HTTPField.Name("Client-Cert")!
    public static let clientCertChainHeader = HTTPField.Name("Client-Cert-Chain")!

    let trustStore: CertificateTrustStore
    let trustedProxies: Set<String>
    /// `x5t#S256` of the proxies' own client certificates. When set, a trusted address alone is not enough:
    /// the hop must also present one of these certificates over TLS before its `Client-Cert` is believed.
    let trustedProxyCertificates: Set<String>
    let clock: any WallClock
    private let cache = Mutex<[String: (evaluated: ClientCertificate, until: Date)]>([:])
    /// The evaluation of each open TLS connection's chain, dropped when the connection closes: a kept-alive
    /// client costs one dictionary lookup per request, not a trip to the event loop and a chain hash.
    private let connections = Mutex<[ObjectIdentifier: (evaluated: ClientCertificate?, until: Date)]>([:])
    static let cacheLifetime: TimeInterval = 60
    static let cacheLimit = 10_000

    public init(trustStore: CertificateTrustStore, trustedProxies: [String], trustedProxyCertificates: [String] = [], clock: any WallClock) {
        self.trustStore = trustStore
        self.trustedProxies = Set(trustedProxies)
        self.trustedProxyCertificates = Set(trustedProxyCertificates)
        self.clock = clock
    }

    func isTrustedProxy(_ address: String?) -> Bool {
        guard let address else { return false }
        return trustedProxies.contains(address)
    }

    /// Whether what the hop says about the client (`Client-Cert`, `X-Forwarded-For`) may be believed: it comes from a
    /// trusted address and, when proxy certificates are pinned, presented one of them over TLS. RFC 9440 §4: the
    /// header is only as good as the hop that set it; an address (any local process, anyone behind the same NAT)
    /// is not authentication.
    func isAuthenticatedProxy(channel: any Channel, remoteAddress: String?) async -> Bool {
        guard isTrustedProxy(remoteAddress) else { return false }
        guard !trustedProxyCertificates.isEmpty else { return true }
        guard let presented = try? await channel.nioSSL_peerValidatedCertificateChain().get(), let hop = presented.first,
            let der = try? hop.toDERBytes()
        else { return false }
        return trustedProxyCertificates.contains(Base64URL.encode(Crypto.sha256(der)))
    }

    /// The certificate for a request on `channel` with `headers` from `remoteAddress`.
    func certificate(channel: any Channel, headers: HTTPFields, remoteAddress: String?) async -> ClientCertificate? {
        if isTrustedProxy(remoteAddress) {
            guard await isAuthenticatedProxy(channel: channel, remoteAddress: remoteAddress) else { return nil }
            guard let value = headers[Self.clientCertHeader] else { return nil }
            guard let chain = Self.headerChain(certificate: value, chain: headers[Self.clientCertChainHeader]) else { return nil }
            return evaluate(chain, source: .proxyHeader)
        }
        let connection = ObjectIdentifier(channel)
        let now = clock.now()
        if let known = connections.withLock({ $0[connection] }), known.until > now { return known.evaluated }
        let evaluated: ClientCertificate?
        if let presented = try? await channel.nioSSL_peerValidatedCertificateChain().get() {
            var chain: [[UInt8]] = []
            for certificate in presented {
                guard let der = try? certificate.toDERBytes() else { return nil }
                chain.append(der)
            }
            evaluated = evaluate(chain, source: .tls)
        } else {
            evaluated = nil
        }
        // Re-evaluated at most every cacheLifetime (trust or expiry may change on a long-lived connection).
        let until = min(now.addingTimeInterval(Self.cacheLifetime), evaluated?.certificate.notAfter ?? .distantFuture)
        let isNew = connections.withLock { entries -> Bool in
            let isNew = entries[connection] == nil
            entries[connection] = (evaluated, until)
            return isNew
        }
        if isNew {
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.connections.withLock { $0.removeValue(forKey: connection) }
            }
        }
        return evaluated
    }

    func evaluate(_ chain: [[UInt8]], source: ClientCertificate.Source) -> ClientCertificate? {
        guard !chain.isEmpty else { return nil }
        let key = source.rawValue + ":" + chain.map { Base64URL.encode(Crypto.sha256($0)) }.joined(separator: ".")
        let now = clock.now()
        if let hit = cache.withLock({ $0[key] }), hit.until > now { return hit.evaluated }
        var certificates: [X509Certificate] = []
        for der in chain {
            guard let certificate = try? X509Certificate(der: der) else { return nil }
            certificates.append(certificate)
        }
        guard let evaluated = ClientCertificate.evaluate(presented: certificates, trustStore: trustStore, source: source, at: now) else {
            return nil
        }
        cache.withLock { entries in
            if entries.count >= Self.cacheLimit { entries.removeAll(keepingCapacity: true) }
            // Never cache past the certificate's own expiry.
            let until = min(now.addingTimeInterval(Self.cacheLifetime), evaluated.certificate.notAfter ?? now)
            entries[key] = (evaluated, until)
        }
        return evaluated
    }

    /// The DER chain a trusted proxy passes: the `Client-Cert` byte sequence, then each item of the
    /// `Client-Cert-Chain` list (RFC 9440 §2.2, §2.3); nil when any part is malformed. Public for the fuzzer.
    public static func headerChain(certificate value: String, chain list: String?) -> [[UInt8]]? {
        guard let leaf = decodeByteSequence(value) else { return nil }
        var chain = [leaf]
        for item in list?.split(separator: ",") ?? [] {
            guard let der = decodeByteSequence(String(item)) else { return nil }
            chain.append(der)
        }
        return chain
    }

    /// An RFC 8941 byte sequence, `:base64:`, as RFC 9440 §2.2 requires.
    static func decodeByteSequence(_ value: String) -> [UInt8]? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.count >= 2, trimmed.hasPrefix(":"), trimmed.hasSuffix(":") else { return nil }
        guard let data = Data(base64Encoded: String(trimmed.dropFirst().dropLast())), !data.isEmpty else { return nil }
        return [UInt8](data)
    }
}
