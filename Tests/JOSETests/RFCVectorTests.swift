import JOSE
import OpenSSLKit
import Testing

@Suite("RFC test vectors")
struct RFCVectorTests {
    @Test("RFC 7515 A.2: RS256 verifies, and a flipped bit does not")
    func rs256() throws {
        let vector = try TestFixtures.vector("rfc7515-a2-rs256.json")
        let jws = try CompactJWS(vector.jws)
        #expect(jws.algorithm == .RS256)
        try jws.verify(with: vector.jwk.key, allowed: [.RS256])
        let claims = try jws.claims()
        #expect(claims.issuer == "joe")
        #expect(try claims.date("exp") == 1_300_819_380)

        var tampered = jws.signature
        tampered[10] ^= 1
        #expect(throws: JOSEError.self) {
            try vector.jwk.key.verify(signature: tampered, input: jws.signingInput, algorithm: .RS256)
        }
    }

    @Test("RFC 7515 A.2: RS256 is refused where only FAPI algorithms are allowed")
    func rs256RefusedForFAPI() throws {
        let vector = try TestFixtures.vector("rfc7515-a2-rs256.json")
        let error = #expect(throws: JOSEError.self) {
            try CompactJWS(vector.jws).verify(with: vector.jwk.key, allowed: JWSAlgorithm.fapi)
        }
        #expect(error?.code == .algorithmMismatch)
    }

    @Test("RFC 7515 A.3: ES256 verifies; our own ES256 signatures verify with the same key")
    func es256() throws {
        let vector = try TestFixtures.vector("rfc7515-a3-es256.json")
        let jws = try CompactJWS(vector.jws)
        try jws.verify(with: vector.jwk.key, allowed: JWSAlgorithm.fapi)
        #expect(jws.signature.count == 64)

        let signer = try SigningKey(key: vector.jwk.key, algorithm: .ES256, kid: "a3")
        let ours = try CompactJWS(try signer.sign(payload: jws.payload))
        try ours.verify(with: vector.jwk.key, allowed: [.ES256])
        #expect(ours.signature.count == 64)
    }

    @Test("RFC 8037: Ed25519 signature is reproduced byte for byte and the thumbprint matches")
    func ed25519() throws {
        let vector = try TestFixtures.vector("rfc8037-ed25519.json")
        let signingInput = Array(vector.jws.split(separator: ".").prefix(2).joined(separator: ".").utf8)
        let signature = try vector.jwk.key.sign(signingInput, algorithm: .EdDSA)
        #expect(vector.jws.hasSuffix("." + Base64URL.encode(signature)))
        try CompactJWS(vector.jws).verify(with: vector.jwk.key, allowed: JWSAlgorithm.fapi2)
        #expect(try vector.jwk.thumbprint == vector.members["thumbprint"]?.stringValue)
        #expect(try JWK(key: vector.jwk.key).publicMembers["x"] == vector.jwk.members["x"])
    }

    @Test("RFC 7638 §3.1: thumbprint of the example RSA key")
    func thumbprint() throws {
        let object = try TestFixtures.json("rfc7638-thumbprint.json")
        let jwk = try JWK(members: object["jwk"]!.objectValue!)
        #expect(try jwk.thumbprint == object["thumbprint"]?.stringValue)
    }

    @Test("RSA private JWK round-trips through export with every CRT member")
    func rsaRoundTrip() throws {
        let vector = try TestFixtures.vector("rfc7515-a2-rs256.json")
        let exported = try JWK(key: vector.jwk.key, includePrivate: true)
        for name in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
            #expect(exported.members[name] == vector.jwk.members[name], "member \(name)")
        }
        #expect(exported.publicMembers["d"] == nil)
    }
}
