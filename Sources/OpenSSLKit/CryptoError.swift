/// Everything that can go wrong in the cryptography: parsing, verifying or validating keys, JOSE objects and
/// X.509 certificates (JOSE names it `JOSEError`).
///
/// Only `code` says what kind of failure it was; `detail` is for logs and never goes on the wire.
/// The authorization server translates these into OAuth errors.
public struct CryptoError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// Not a well-formed compact JWS, JWK or JSON value (segments, base64url, JSON shape).
        case malformed
        /// `alg: none`, a MAC algorithm, or any algorithm this library does not implement.
        case unsupportedAlgorithm
        /// The algorithm does not fit the key type (RFC 8725 §3.1), or is not allowed for this use.
        case algorithmMismatch
        /// A `crit` header names an extension we do not understand (RFC 7515 §4.1.11).
        case unsupportedCriticalHeader
        /// `b64: false` (RFC 7797) is refused.
        case unencodedPayload
        /// Input over the configured size limit.
        case tooLarge
        /// RSA under 2048 bits, or a curve we do not accept.
        case weakKey
        /// A key that cannot be used: bad parameters, point not on curve, private part missing.
        case invalidKey
        /// The signature does not verify.
        case invalidSignature
        case expired
        case notYetValid
        case issuedInFuture
        case invalidIssuer
        case invalidAudience
        case missingClaim
        case lifetimeTooLong
        /// An X.509 certificate could not be parsed or did not verify to a trust anchor.
        case certificate
        /// OpenSSL failed where it should not have (allocation, internal error).
        case cryptoFailure
    }

    public let code: Code
    /// Why, for the log. Never sent to a client.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}
