public import JOSE
public import OpenSSLKit

/// A directory of accredited TPPs (the Open Banking directory, a national authority): the keys that
/// sign its software statements, the CAs that issue its members' transport certificates, and how its
/// roles map to scopes.
public struct TrustedDirectory: Sendable {
    public enum Keys: Sendable {
        case set(JWKSet)
        /// Fetched with the outbound client, with the same caching as client `jwks_uri`.
        case uri(String)
    }

    public let name: String
    /// Expected `iss` of its software statements, when the directory names one.
    public let issuer: String?
    public let keys: Keys
    public let transportCAs: CertificateTrustStore
    /// Role (`AISP`, `PISP`, `CBPII`, …) to the scopes it allows.
    public let roleScopes: [String: Set<String>]
    /// Whether its software statements must carry `exp` (for directories that always set one).
    public let requiresExpiry: Bool

    public static let defaultRoleScopes: [String: Set<String>] = [
        "AISP": ["openid", "accounts"], "PISP": ["openid", "payments"], "CBPII": ["openid", "fundsconfirmations"],
    ]

    public init(
        name: String, issuer: String?, keys: Keys, transportCAs: CertificateTrustStore, roleScopes: [String: Set<String>], requiresExpiry: Bool = false
    ) {
        self.requiresExpiry = requiresExpiry
        self.name = name
        self.issuer = issuer
        self.keys = keys
        self.transportCAs = transportCAs
        self.roleScopes = roleScopes
    }
}
