public import Foundation
import OpenSSLKit

/// Server-provided DPoP nonces (RFC 9449 §8, §9): stateless, rotating, and accepted by every instance that shares
/// the key. A nonce is base64url(HMAC-SHA-256(key, label ‖ time step)); the current step's nonce is handed out in
/// `DPoP-Nonce`, and the current and the previous step's are accepted, so a nonce lives one to two periods.
/// Nothing is stored: instances on one database agree as long as they share the key and roughly the time.
public struct DPoPNonces: Sendable {
    let key: [UInt8]
    /// How often the nonce changes, in seconds.
    public let period: TimeInterval

    /// `key`: at least 32 bytes, the same on every instance.
    public init(key: [UInt8], period: TimeInterval = 60) {
        precondition(key.count >= 32 && period >= 1, "a DPoP nonce key has at least 32 bytes")
        self.key = key
        self.period = period
    }

    /// The nonce to hand out now.
    public func current(at now: Date) -> String { nonce(step: step(now)) }

    /// Whether `nonce` is the current or the previous step's (compared in constant time).
    public func isValid(_ nonce: String, at now: Date) -> Bool {
        let step = step(now)
        // Both compared, so the answer's timing does not say which step matched.
        let current = Crypto.constantTimeEqual(nonce, self.nonce(step: step))
        let previous = Crypto.constantTimeEqual(nonce, self.nonce(step: step - 1))
        return current || previous
    }

    func step(_ now: Date) -> Int64 { Int64((now.timeIntervalSince1970 / period).rounded(.down)) }

    func nonce(step: Int64) -> String {
        var input = Array("fapid dpop nonce v1 ".utf8)
        withUnsafeBytes(of: step.bigEndian) { input.append(contentsOf: $0) }
        return Base64URL.encode(Crypto.hmacSHA256(key: key, input))
    }
}
