import Foundation
import JOSE
import OpenSSLKit
import Testing

/// Issue 16 items 13 and 14: a JOSE object has one reading and one encoding. Duplicate member names
/// (RFC 7515 §4, RFC 7519 §4, RFC 7517 §4) and base64url with padding or non-zero trailing bits
/// (RFC 4648 §3.5) are refused.
@Suite("Canonical JOSE input")
struct CanonicalInputTests {
    static func segment(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }

    // MARK: Duplicate member names

    @Test(
        "objects with a member name twice are refused, also when escaped or canonically equal",
        arguments: [
            #"{"alg":"ES256","alg":"none"}"#,
            #"{"kid":"a","k\u0069d":"b"}"#,
            #"{"a":1,"b":{"x":1,"x":2}}"#,
            #"[{"x":1},{"y":[{"z":1,"z":1}]}]"#,
            "{\"caf\u{E9}\":1,\"cafe\u{301}\":2}",
            #"{"\ud83d\ude00":1,"😀":2}"#,
            #"{"a\"b":1,"a\u0022b":2}"#,
        ])
    func duplicatesRefused(text: String) throws {
        let error = #expect(throws: JOSEError.self) { try JSON.parse(Array(text.utf8)) }
        #expect(error?.code == .malformed)
        #expect(error?.detail.contains("duplicate") == true)
    }

    @Test(
        "the same name in different objects, in values or inside strings is not a duplicate",
        arguments: [
            #"{"a":{"x":1},"x":2}"#,
            #"{"a":["x","x"],"x":"x"}"#,
            #"{"a\"b":1,"ab":2,"c":"\"a\\\"b\":"}"#,
            #"{"k":[{"k":{"k":1}},{"k":2}]}"#,
            #""plain string""#,
            #"{}"#,
        ])
    func distinctAccepted(text: String) throws {
        _ = try JSON.parse(Array(text.utf8))
    }

    @Test("a JWS header, a claim set and a JWK with duplicate members are refused")
    func joseObjects() throws {
        let signer = try SigningKey(key: try AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "k")
        // Header: the first alg would verify, another parser would read the second.
        let header = Self.segment(#"{"alg":"ES256","kid":"k","alg":"PS256"}"#)
        let good = try signer.sign(claims: ["iss": "a"])
        let parts = good.split(separator: ".").map(String.init)
        #expect((#expect(throws: JOSEError.self) { try CompactJWS(header + "." + parts[1] + "." + parts[2]) })?.code == .malformed)

        // Claims: a signed payload with two `sub`s verifies, but must not be read.
        let payload = Array(#"{"iss":"c","sub":"alice","exp":1,"sub":"mallory"}"#.utf8)
        let signed = try signer.sign(payload: payload, extraHeader: ["typ": "JWT"])
        let jws = try CompactJWS(signed)
        try jws.verify(with: signer.key, allowed: [.ES256])
        #expect((#expect(throws: JOSEError.self) { try jws.claims() })?.code == .malformed)

        // JWK and JWKS: two `x` coordinates.
        let jwk = try JWK(key: signer.key).publicMembers
        let text = String(decoding: JSON.object(jwk).bytes, as: UTF8.self)
        let doubled = text.replacingOccurrences(of: #""kty":"EC""#, with: #""kty":"EC","x":"AAAA""#)
        #expect(doubled != text)
        #expect((#expect(throws: JOSEError.self) { try JWK(json: Array(doubled.utf8)) })?.code == .malformed)
        #expect((#expect(throws: JOSEError.self) { try JWKSet(json: Array(#"{"keys":[\#(doubled)]}"#.utf8)) })?.code == .malformed)
        #expect((#expect(throws: JOSEError.self) { try JWKSet(json: Array(#"{"keys":[],"keys":[\#(text)]}"#.utf8)) })?.code == .malformed)
        #expect(try JWK(json: Array(text.utf8)).kid == jwk["kid"]?.stringValue)
    }

    // MARK: Canonical base64url

    @Test("non-zero trailing bits and padding are refused")
    func nonCanonicalBase64() throws {
        #expect(try Base64URL.decode("AA") == [0])
        #expect(try Base64URL.decode("AAA") == [0, 0])
        #expect(try Base64URL.decode("AAE") == [0, 1])
        #expect(try Base64URL.decode("") == [])
        for text in ["AB", "AP", "AAB", "AAD", "_w_", "AA==", "AAA=", "A", "AAAAA", "A+B/", "AA A", "AA\n"] {
            #expect((#expect(throws: JOSEError.self) { try Base64URL.decode(text) })?.code == .malformed, "\(text)")
        }
    }

    @Test("every byte string has one accepted encoding, the one we produce")
    func roundTrip() throws {
        var random = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let encoded = Base64URL.encode(bytes)
            #expect(try Base64URL.decode(encoded) == bytes)
            let standard = Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            #expect(encoded == standard)
            // Every other last character that Foundation would decode to the same bytes is refused.
            guard let last = encoded.last, length % 3 != 0 else { continue }
            for alternative in Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") where alternative != last {
                let variant = String(encoded.dropLast()) + String(alternative)
                if let decoded = try? Base64URL.decode(variant) { #expect(decoded != bytes, "\(variant) is a second encoding") }
            }
        }
    }

    @Test("a JWS signature re-encoded with trailing bits set is refused, so a JWS has one serialization")
    func malleableSignature() throws {
        let signer = try SigningKey(key: try AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "k")
        let token = try signer.sign(claims: ["iss": "a"])
        // 64 signature bytes are 86 characters, whose last carries 4 unused bits.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = alphabet.firstIndex(of: token.last!)!
        let variant = String(token.dropLast()) + String(alphabet[last | 1])
        #expect(variant != token)
        #expect(Data(base64Encoded: Self.standard(String(variant.split(separator: ".")[2]))) == Data(try CompactJWS(token).signature))
        #expect((#expect(throws: JOSEError.self) { try CompactJWS(variant) })?.code == .malformed)
        // A payload segment with trailing bits set is refused likewise: {"iss":"a"} is 15 characters, 2 bits unused.
        let parts = token.split(separator: ".").map(String.init)
        #expect(parts[1].count == 15)
        let index = alphabet.firstIndex(of: parts[1].last!)!
        let bent = String(parts[1].dropLast()) + String(alphabet[index | 1])
        #expect((#expect(throws: JOSEError.self) { try CompactJWS(parts[0] + "." + bent + "." + parts[2]) })?.code == .malformed)
    }

    static func standard(_ text: String) -> String {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return standard
    }
}
