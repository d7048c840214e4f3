import Foundation
public import NIOSSL

/// The server side of TLS: certificate, key, versions and the FAPI cipher suites.
public struct TLSSettings: Sendable {
    /// The TLS 1.2 suites of the one listener every client shares, whatever its profile: the intersection that
    /// satisfies both FAPI 1 Advanced §8.5 / FAPI-CIBA (ECDHE-RSA or DHE-RSA with AES-GCM) and FAPI 2 SP §5.2.2 /
    /// BCP 195, RFC 9325 §4.2 (ECDHE-RSA or ECDHE-ECDSA with AES-GCM; DHE fails). The handshake comes before the
    /// client is known, so no per-client list is possible: DHE is never offered (BoringSSL has none anyway), and
    /// the ECDSA suites serve an ECDSA server certificate. TLS 1.3 suites are all AEAD and not configurable in BoringSSL.
    public static let fapiCipherSuites = [
        "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    ]

    /// TLS 1.2 signature algorithms, both ways (RFC 9155 §3: no SHA-1): what the server signs its handshake with,
    /// what it asks for in CertificateRequest and accepts in a client's CertificateVerify. TLS 1.3 never uses SHA-1.
    public static let signatureAlgorithms: [SignatureAlgorithm] = [
        .ecdsaSecp256R1Sha256, .ecdsaSecp384R1Sha384, .ecdsaSecp521R1Sha512, .rsaPssRsaeSha256, .rsaPssRsaeSha384, .rsaPssRsaeSha512,
        .ed25519, .rsaPkcs1Sha256, .rsaPkcs1Sha384, .rsaPkcs1Sha512,
    ]

    public let certificateChainPath: String
    public let privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }

    /// NIOSSL configuration: TLS 1.2 minimum, FAPI suites, client certificates requested but not required.
    public func makeConfiguration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateChainPath)
        let key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = Self.fapiCipherSuites.joined(separator: ":")
        configuration.signingSignatureAlgorithms = Self.signatureAlgorithms
        configuration.verifySignatureAlgorithms = Self.signatureAlgorithms
        // Ask every client for a certificate; whether one is needed is decided per endpoint.
        configuration.certificateVerification = .optionalVerification
        configuration.applicationProtocols = ["http/1.1"]
        return configuration
    }
}
