public import OpenSSLKit

/// The failures of JOSE objects are those of the cryptography beneath them: one error type, whose codes
/// cover malformed input, algorithms, keys, signatures, claims and certificates.
public typealias JOSEError = CryptoError
