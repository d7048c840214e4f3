import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

@Suite("AsymmetricKey and JWK")
struct AsymmetricKeyTests {
    @Test("generated keys survive PEM and JWK round trips", arguments: [AsymmetricKey.Kind.rsa(bits: 2048), .p256, .ed25519])
    func roundTrips(kind: AsymmetricKey.Kind) throws {
        let key = try AsymmetricKey.generate(kind)
        #expect(key.kind == kind)
        let reread = try AsymmetricKey(pem: try key.privateKeyPEM())
        #expect(reread.isPrivate)
        #expect(reread.hasSamePublicKey(as: key))
        let publicOnly = try AsymmetricKey(pem: try key.publicKeyPEM())
        #expect(!publicOnly.isPrivate)
        #expect(publicOnly.hasSamePublicKey(as: key))

        let privateJWK = try JWK(key: key, includePrivate: true)
        let fromJWK = try JWK(members: privateJWK.members)
        #expect(fromJWK.key.isPrivate)
        #expect(fromJWK.key.hasSamePublicKey(as: key))
        let publicJWK = try JWK(members: privateJWK.publicMembers)
        #expect(!publicJWK.key.isPrivate)
        #expect(try publicJWK.thumbprint == privateJWK.kid)
    }

    @Test("RSA keys under 2048 bits are refused, from PEM and from generation")
    func weakRSA() throws {
        let pki = try TestPKI(name: "weak")
        try pki.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "weak.key"])
        let error = #expect(throws: JOSEError.self) { try AsymmetricKey(pem: try pki.read("weak.key")) }
        #expect(error?.code == .weakKey)
        #expect((#expect(throws: JOSEError.self) { try AsymmetricKey.generate(.rsa(bits: 1024)) })?.code == .weakKey)
    }

    @Test("EC keys on curves other than P-256 are refused")
    func otherCurves() throws {
        let pki = try TestPKI(name: "curve")
        try pki.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "p384.key"])
        #expect((#expect(throws: JOSEError.self) { try AsymmetricKey(pem: try pki.read("p384.key")) })?.code == .weakKey)
    }

    @Test("malformed JWKs are refused with a typed error")
    func badJWKs() throws {
        let p256 = try JWK(key: try AsymmetricKey.generate(.p256)).members
        var offCurve = p256
        offCurve["y"] = .string(Base64URL.encode([UInt8](repeating: 7, count: 32)))
        var shortX = p256
        shortX["x"] = .string(Base64URL.encode([UInt8](repeating: 7, count: 31)))
        var wrongAlg = p256
        wrongAlg["alg"] = "PS256"
        let cases: [([String: JSON], JOSEError.Code)] = [
            (["kty": "oct", "k": "AAAA"], .invalidKey),
            (["n": "AQAB"], .invalidKey),
            (["kty": "RSA", "e": "AQAB"], .invalidKey),
            (["kty": "RSA", "n": "AQAB", "e": "AQAB"], .weakKey),
            (["kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"], .weakKey),
            (offCurve, .invalidKey),
            (shortX, .invalidKey),
            (wrongAlg, .algorithmMismatch),
            (["kty": "OKP", "crv": "X25519", "x": "AA"], .invalidKey),
            (["kty": "EC", "crv": "P-256", "x": "@@", "y": "AA"], .malformed),
        ]
        for (members, expected) in cases {
            let error = #expect(throws: JOSEError.self) { try JWK(members: members) }
            #expect(error?.code == expected, "\(members)")
        }
    }

    @Test("a private JWK whose halves do not belong together is refused")
    func mismatchedPrivate() throws {
        var members = try JWK(key: try AsymmetricKey.generate(.p256), includePrivate: true).members
        members["d"] = try JWK(key: try AsymmetricKey.generate(.p256), includePrivate: true).members["d"]
        #expect(throws: JOSEError.self) { try JWK(members: members) }
    }

    @Test("a JWKS skips unknown key types and keeps the rest")
    func keySet() throws {
        let ec = try JWK(key: try AsymmetricKey.generate(.p256)).publicMembers
        let document = JSON.object(["keys": .array([.object(ec), ["kty": "oct", "k": "AAAA"], ["kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"]])])
        let set = try JWKSet(json: document.bytes)
        #expect(set.keys.count == 1)
        #expect(set.skipped == 2)
        #expect(throws: JOSEError.self) { try JWKSet(json: Array(#"{"keys":{}}"#.utf8)) }
    }
}
