public import Foundation
public import JOSE

/// RFC 9701: the introspection response as a JWT signed by the server, for a resource server that asks for
/// it with `Accept: application/token-introspection+jwt` (§4). Every registered resource server may ask,
/// whatever the profile of the token's client. Encryption (§5 nested JWE, `introspection_encrypted_response_*`)
/// is not offered: the response travels over the resource server's own mTLS connection.
public struct IntrospectionResponseJWT: Sendable {
    /// The media type of the request's `Accept` and of the response's `Content-Type` (RFC 9701 §4, §5, §12.1).
    public static let mediaType = "application/token-introspection+jwt"
    /// The JOSE `typ` (RFC 9701 §5): explicit typing, so the response is never taken for another JWT (§8.1).
    public static let type = "token-introspection+jwt"
    /// The algorithms a resource server may choose (RFC 9701 §6 `introspection_signed_response_alg`): the ones
    /// this server signs with, all of them allowed by FAPI 2 (FAPI2-SP §5.4.1). RFC 9701's default RS256 is not
    /// among them (FAPI forbids it), so fapid's default is PS256.
    public static let algorithms: [JWSAlgorithm] = JWSAlgorithm.fapi2Listed
    public static let defaultAlgorithm = JWSAlgorithm.PS256

    let keyRing: KeyRing
    let issuer: String
    let clock: any WallClock

    public init(keyRing: KeyRing, issuer: String, clock: any WallClock) {
        self.keyRing = keyRing
        self.issuer = issuer
        self.clock = clock
    }

    /// The algorithms discovery advertises as `introspection_signing_alg_values_supported` (RFC 9701 §7): those of
    /// `algorithms` the key ring has an active key for.
    public func supportedAlgorithms() -> [JWSAlgorithm] {
        let signers = keyRing.snapshot.signers(at: clock.now())
        return Self.algorithms.filter { signers[$0] != nil }
    }

    /// The claims of the response for `server` (RFC 9701 §5): `iss`, `aud` (the resource server's id, the
    /// identifier fapid assigned it at registration and authenticates it under), `iat`, and
    /// `token_introspection`, the RFC 7662 §2.2 response object unchanged (`{"active": false}` alone for a
    /// token that is not active). No top-level `sub` or `exp`: the JWT is no access token (§8.1).
    public func claims(_ introspection: [String: JSON], for server: ResourceServer, at now: Date? = nil) -> [String: JSON] {
        [
            "iss": .string(issuer),
            "aud": .string(server.id),
            "iat": .int(Int64((now ?? clock.now()).timeIntervalSince1970.rounded(.down))),
            "token_introspection": .object(introspection),
        ]
    }

    /// The signed response for `server`, with its `introspection_signed_response_alg` and the key ring's active
    /// key of that algorithm (header `typ`, `alg`, `kid`); `server_error` when there is no such key.
    public func sign(_ introspection: [String: JSON], for server: ResourceServer) async throws(OAuthError) -> String {
        let algorithm = server.introspectionSignedResponseAlg
        let now = clock.now()
        guard let signer = keyRing.snapshot.signer(for: algorithm, at: now) else {
            throw OAuthError.server("no active \(algorithm) signing key for introspection")
        }
        do {
            return try await signer.sign(claims: claims(introspection, for: server, at: now), type: Self.type)
        } catch {
            throw OAuthError.server("signing an introspection response failed: \(error)")
        }
    }
}
