import JOSE
import OpenSSLKit

/// Targets for the JOSE layer: everything a TPP sends as a JWS, a JWK or JSON.
enum FuzzJOSE {
    static func jws(_ bytes: [UInt8]) {
        let token = String(decoding: bytes, as: UTF8.self)
        guard let jws = try? CompactJWS(token) else { return }
        // The signed bytes are the first two segments exactly as they came.
        FuzzInvariant.check(token.utf8.starts(with: jws.signingInput), "signing input is not a prefix of the token")
        if let claims = try? jws.claims() {
            _ = try? claims.audiences()
            for name in ["exp", "nbf", "iat"] { _ = try? claims.date(name) }
            for name in ["iss", "sub", "jti", "client_id", "scope"] { _ = try? claims.string(name) }
        }
        _ = try? jws.certificateChain()
        let fixtures = FuzzFixtures.shared
        _ = try? jws.verify(with: fixtures.clientSigner.key, allowed: [.ES256, .PS256])
        _ = try? jws.verify(with: fixtures.serverKeys, allowed: [.ES256, .PS256])
    }

    static func jwk(_ bytes: [UInt8]) {
        if let key = try? JWK(json: bytes) {
            // The members we would publish name the same key (RFC 7638 §3: the thumbprint is of the key alone).
            let published = try? JWK(json: JSON.object(key.publicMembers).bytes)
            FuzzInvariant.check(published != nil, "the public members of a JWK do not parse")
            FuzzInvariant.check((try? published?.thumbprint) == (try? key.thumbprint), "the published JWK names another key")
            _ = try? key.certificateChain()
        }
        if let set = try? JWKSet(json: bytes) {
            FuzzInvariant.check(set.keys.count <= JWKSet.maximumKeys, "JWK Set holds more keys than its limit")
            _ = set.candidates(kid: "client-key", algorithm: .ES256)
            let republished = set.publicJSON.bytes
            FuzzInvariant.check((try? JWKSet(json: republished))?.keys.count == set.keys.count, "a published JWK Set does not parse back")
        }
    }

    static func json(_ bytes: [UInt8]) {
        guard let value = try? JSON.parse(bytes) else { return }
        // What we write, we read back as the same value; the canonical form is a fixed point (RFC 8785).
        // (Compared in canonical form, where 1 and 1.0 are one number.)
        let canonical = value.canonicalBytes
        FuzzInvariant.check((try? JSON.parse(value.bytes))?.canonicalBytes == canonical, "JSON does not survive being written and read")
        let reread = try? JSON.parse(canonical)
        FuzzInvariant.check(reread?.canonicalBytes == canonical, "the canonical form does not parse, or is not stable")
    }
}
