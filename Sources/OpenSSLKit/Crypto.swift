internal import COpenSSL

/// Digests, randomness and constant-time comparison from the system OpenSSL.
public enum Crypto {
    /// SHA-256 fetched once: an implicit fetch per call costs a provider lookup.
    nonisolated(unsafe) package static let sha256Digest: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA2-256", nil) else { fatalError("OpenSSL has no SHA-256: \(OpenSSLErrorQueue.drain())") }
        return md
    }()

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, sha256Digest, nil)
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

    /// scrypt (RFC 7914) through OpenSSL's `EVP_PBE_scrypt`, for password hashing.
    public static func scrypt(password: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, length: Int) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        // Memory bound: 128 * r * (n + p + 2) bytes, with headroom.
        let maxMemory = 128 * r * (n + p + 2) + 1024 * 1024
        let ok = password.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { saltBuffer in
                out.withUnsafeMutableBufferPointer { output in
                    pass.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(pass.count, 1)) { passChars in
                        EVP_PBE_scrypt(passChars, pass.count, saltBuffer.baseAddress, saltBuffer.count, n, r, p, maxMemory, output.baseAddress, length)
                    }
                }
            }
        }
        guard ok == 1 else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_PBE_scrypt") }
        return out
    }

    /// Lowercase hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
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

    /// HMAC-SHA-256 (RFC 2104) through OpenSSL's one-shot `HMAC`: keyed values a server checks without storing them.
    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let result = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(sha256Digest, k.baseAddress, Int32(k.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count, o.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && length == 32, "HMAC-SHA-256 failed: \(OpenSSLErrorQueue.drain())")
        return out
    }
}
