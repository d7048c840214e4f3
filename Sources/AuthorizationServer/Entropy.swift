import OpenSSLKit

/// Where the core draws random bytes from: OpenSSL in the daemon, a seeded generator in tests
/// (`TestSupport.SeededEntropy`), so a test can name the very code, token or id a service will hand out.
public protocol EntropySource: Sendable {
    /// `count` random bytes.
    func bytes(_ count: Int) -> [UInt8]
}

/// The system's cryptographically secure generator (OpenSSL `RAND_bytes`).
public struct SystemEntropy: EntropySource {
    public init() {}
    public func bytes(_ count: Int) -> [UInt8] { Crypto.randomBytes(count) }
}

extension EntropySource {
    /// The one format of every random secret the server hands out (access and refresh tokens, codes,
    /// `auth_req_id`, `request_uri` values, registration access tokens, interaction ids and CSRF tokens):
    /// 256 bits, base64url without padding (43 characters, VSCHAR only, RFC 6749 Appendix A.12).
    public func token() -> String { Base64URL.encode(bytes(32)) }

    /// A random identifier of `count` bytes in lowercase hex: never starts with "-", so it cannot read as an
    /// option on the `fapictl` command line (client ids, CIBA request ids).
    public func hexIdentifier(bytes count: Int) -> String { Crypto.hex(bytes(count)) }

    /// A consent id (`grant_id`): 128 random bits, base64url, drawn again when it would start with "-", so that
    /// `fapictl consents show ID` never reads it as an option.
    public func consentIdentifier() -> String {
        while true {
            let id = Base64URL.encode(bytes(16))
            if !id.hasPrefix("-") { return id }
        }
    }
}
