/// Client authentication methods fapid supports. FAPI 1 Advanced §5.2.2-13 and FAPI 2 SP §5.3.1.1-6
/// allow exactly these three; shared secrets are not offered at all.
public enum ClientAuthMethod: String, Sendable, CaseIterable {
    /// RFC 8705 §2.1: a CA-issued certificate matching the registered subject DN or SAN.
    case tlsClientAuth = "tls_client_auth"
    /// RFC 8705 §2.2: a certificate whose key is one of the client's registered keys.
    case selfSignedTLSClientAuth = "self_signed_tls_client_auth"
    /// RFC 7523 §2.2: a JWT signed with one of the client's registered keys.
    case privateKeyJWT = "private_key_jwt"
}
