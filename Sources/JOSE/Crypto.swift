internal import COpenSSL

/// Digests, randomness and constant-time comparison from the system OpenSSL.
public enum Crypto {
    /// SHA-256 fetched once: an implicit fetch per call costs a provider lookup.
    nonisolated(unsafe) static let sha256: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA2-256", nil) else { fatalError("OpenSSL has no SHA-256: \(OpenSSLErrorQueue.drain())") }
        return md
    }()

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, sha256, nil)
            }
        }
        precondition(ok == 1 && length == 32, "SHA-256 failed: \(OpenSSLErrorQueue.drain())")
        return out
    }

    public static func sha256(_ text: String) -> [UInt8] {
        sha256(Array(text.utf8))
    }

    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        constantTimeEqual(Array(a.utf8), Array(b.utf8))
    }

    /// Cryptographically secure random bytes (RAND_bytes); a failure here is fatal, never a weak fallback.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: \(OpenSSLErrorQueue.drain())")
        return out
    }

    /// Compares secrets without leaking where they differ (CRYPTO_memcmp). Lengths are not secret.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                guard x.count == y.count else { return false }
                if x.isEmpty { return true }
                return CRYPTO_memcmp(x.baseAddress, y.baseAddress, x.count) == 0
            }
        }
    }
}

