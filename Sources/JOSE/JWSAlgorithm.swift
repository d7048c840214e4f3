public import OpenSSLKit

/// The JWS algorithms this library implements (RFC 7518 §3, RFC 8037).
///
/// `none` and the HMAC family are deliberately absent: parsing a header that names them fails.
public enum JWSAlgorithm: String, Sendable, CaseIterable, Hashable {
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 §3.5).
    case PS256
    /// ECDSA P-256 with SHA-256, signature as raw r‖s (RFC 7518 §3.4).
    case ES256
    /// Ed25519 (RFC 8037 §3.1).
    case EdDSA
    /// RSASSA-PKCS1-v1_5 with SHA-256: verify-only, for non-FAPI clients.
    case RS256

    /// What FAPI 1 Advanced and FAPI-CIBA allow (FAPI1-A §8.6).
    public static let fapi: Set<JWSAlgorithm> = [.PS256, .ES256]
    /// What FAPI 2 allows (FAPI2-SP §5.4.1).
    public static let fapi2: Set<JWSAlgorithm> = Set(fapi2Listed)
    /// The FAPI 2 algorithms in the order metadata and challenges list them.
    public static let fapi2Listed: [JWSAlgorithm] = [.PS256, .ES256, .EdDSA]
    /// Algorithms this server signs with.
    public static let signing: Set<JWSAlgorithm> = [.PS256, .ES256, .EdDSA]

    /// Whether this algorithm is defined for the key (RFC 8725 §3.1: never let the token choose the key type).
    public func fits(_ kind: AsymmetricKey.Kind) -> Bool {
        switch (self, kind) {
        case (.PS256, .rsa), (.RS256, .rsa), (.ES256, .p256), (.EdDSA, .ed25519): true
        default: false
        }
    }

    /// The `kty` a JWK for this algorithm has.
    public var keyType: String {
        switch self {
        case .PS256, .RS256: "RSA"
        case .ES256: "EC"
        case .EdDSA: "OKP"
        }
    }
}
