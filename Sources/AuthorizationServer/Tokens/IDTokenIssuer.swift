public import Foundation
public import JOSE
import OpenSSLKit

/// Signs ID Tokens (OpenID Connect Core §2) with the client's `id_token_signed_response_alg`
/// (PS256 by default), with the hash claims of the hybrid flow: `c_hash`, `s_hash` (FAPI 1 Advanced
/// §5.2.2.1-5), `at_hash`.
public struct IDTokenIssuer: Sendable {
    let keyRing: KeyRing
    let issuer: String
    let lifetime: TimeInterval
    let clock: any WallClock

    public init(keyRing: KeyRing, issuer: String, lifetime: TimeInterval = 300, clock: any WallClock) {
        self.keyRing = keyRing
        self.issuer = issuer
        self.lifetime = lifetime
        self.clock = clock
    }

    public struct Hashed: Sendable {
        public var code: String?
        public var state: String?
        public var accessToken: String?

        public init(code: String? = nil, state: String? = nil, accessToken: String? = nil) {
            self.code = code
            self.state = state
            self.accessToken = accessToken
        }
    }

    /// OIDC Core §3.3.2.11: base64url of the left half of the hash that matches the JWS algorithm (SHA-256 here).
    public static func halfHash(_ value: String) -> String {
        Base64URL.encode(Crypto.sha256(value).prefix(16))
    }

    public func issue(
        client: Client, subject: String, nonce: String?, authTime: Date, acr: String?, hashed: Hashed, extra: [String: JSON] = [:]
    ) async throws(OAuthError) -> String {
        let algorithm = client.metadata["id_token_signed_response_alg"]?.stringValue.flatMap(JWSAlgorithm.init(rawValue:)) ?? .PS256
        let instant = clock.now()
        // The signer of the same instant as `iat`: a token's kid and its iat agree across a key switch.
        guard let signer = keyRing.snapshot.signer(for: algorithm, at: instant) else { throw OAuthError.server("no active \(algorithm) signing key") }
        let now = instant.timeIntervalSince1970.rounded(.down)
        var claims: [String: JSON] = extra
        claims["iss"] = .string(issuer)
        claims["sub"] = .string(subject)
        claims["aud"] = .string(client.clientID)
        claims["azp"] = .string(client.clientID)
        claims["iat"] = .int(Int64(now))
        claims["exp"] = .int(Int64(now + lifetime))
        claims["auth_time"] = .int(Int64(authTime.timeIntervalSince1970))
        if let nonce { claims["nonce"] = .string(nonce) }
        if let acr { claims["acr"] = .string(acr) }
        if let code = hashed.code { claims["c_hash"] = .string(Self.halfHash(code)) }
        if let state = hashed.state { claims["s_hash"] = .string(Self.halfHash(state)) }
        if let token = hashed.accessToken { claims["at_hash"] = .string(Self.halfHash(token)) }
        do {
            return try await signer.sign(claims: claims)
        } catch {
            throw OAuthError.server("signing an ID Token failed: \(error)")
        }
    }
}
