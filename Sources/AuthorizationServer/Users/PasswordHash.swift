public import JOSE
public import OpenSSLKit

/// Password hashes for PSU and staff accounts: scrypt (RFC 7914) with a random 16-byte salt, stored as
/// `scrypt$N$r$p$salt$hash` (base64url), verified in constant time. Parameters travel with the hash,
/// so they can be raised later without invalidating old hashes.
public enum PasswordHash {
    public static let n: UInt64 = 1 << 15
    public static let r: UInt64 = 8
    public static let p: UInt64 = 1

    public static func make(_ password: String, entropy: any EntropySource = SystemEntropy()) throws(JOSEError) -> String {
        let salt = entropy.bytes(16)
        let hash = try Crypto.scrypt(password: Array(password.utf8), salt: salt, n: n, r: r, p: p, length: 32)
        return "scrypt$\(n)$\(r)$\(p)$\(Base64URL.encode(salt))$\(Base64URL.encode(hash))"
    }

    /// Whether `password` matches `encoded`; false for any malformed or unsupported encoding.
    public static func verify(_ password: String, against encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "scrypt", let n = UInt64(parts[1]), let r = UInt64(parts[2]), let p = UInt64(parts[3]),
            n > 1, n <= 1 << 20, r <= 32, p <= 16,
            let salt = try? Base64URL.decode(parts[4]), let expected = try? Base64URL.decode(parts[5]), expected.count == 32,
            let actual = try? Crypto.scrypt(password: Array(password.utf8), salt: salt, n: n, r: r, p: p, length: 32)
        else { return false }
        return Crypto.constantTimeEqual(actual, expected)
    }
}
