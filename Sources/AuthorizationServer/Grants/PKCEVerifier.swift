import OpenSSLKit

extension AuthorizationCodeGrant {
    /// RFC 7636 §4.6: the verifier must hash to the code's challenge; a missing one fails the same way
    /// (`invalid_grant`). A code requested without PKCE (by value) takes no verifier: one sent anyway is a
    /// PKCE downgrade attempt (RFC 9700 §2.1.1) and is refused.
    public static func checkVerifier(_ verifier: String?, challenge: String) throws(OAuthError) {
        guard !challenge.isEmpty else {
            if verifier != nil { throw OAuthError(.invalidGrant, "code_verifier sent for a code requested without code_challenge") }
            return
        }
        let verifier = verifier ?? ""
        // RFC 7636 §4.1: 43-128 unreserved characters; §4.6: BASE64URL(SHA256(verifier)) == challenge.
        let unreserved = verifier.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSetASCII.unreserved.contains($0.value)) }
        guard (43...128).contains(verifier.count), unreserved, Crypto.constantTimeEqual(Base64URL.encode(Crypto.sha256(verifier)), challenge) else {
            throw OAuthError(.invalidGrant, "code_verifier does not match the code_challenge")
        }
    }
}

enum CharacterSetASCII {
    /// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
    static let unreserved: Set<UInt32> = Set(
        Array(0x41...0x5A) + Array(0x61...0x7A) + Array(0x30...0x39) + [0x2D, 0x2E, 0x5F, 0x7E])
}
