import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// Issue 16 item 1 (CWE-400): the cost of a client's keys is bounded before any math. RSA moduli above
/// 4096 bits, sets of more than 32 keys and documents over 64 KiB are refused on their sizes alone.
@Suite("Key size limits")
struct KeySizeLimitTests {
    /// Odd primes under 752: OpenSSL's RSA public check refuses a modulus with such a factor at once, and
    /// runs a Miller-Rabin round (most of a second at 16384 bits) on any other.
    static let smallPrimes: [Int] = {
        var primes: [Int] = []
        for candidate in stride(from: 3, to: 752, by: 2) where primes.allSatisfy({ candidate % $0 != 0 }) {
            primes.append(candidate)
        }
        return primes
    }()

    /// An odd random modulus of exactly `bits` bits without small factors: no key at all, expensive for
    /// OpenSSL to find out, and refusal by size must not need to.
    static func randomModulus(bits: Int) -> [UInt8] {
        while true {
            let count = (bits + 7) / 8
            let topBits = bits - (count - 1) * 8
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255) }
            bytes[0] = bytes[0] & UInt8((1 << topBits) - 1) | UInt8(1 << (topBits - 1))
            bytes[bytes.count - 1] |= 1
            let hasSmallFactor = smallPrimes.contains { prime in bytes.reduce(0) { ($0 * 256 + Int($1)) % prime } == 0 }
            if !hasSmallFactor { return bytes }
        }
    }

    static func rsaMembers(bits: Int, kid: String = "big") -> [String: JSON] {
        ["kty": "RSA", "kid": .string(kid), "n": .string(Base64URL.encode(randomModulus(bits: bits))), "e": "AQAB"]
    }

    static func seconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test("RSA JWKs over 4096 bits are refused at once, before OpenSSL sees them", arguments: [4097, 8192, 16384])
    func hugeRSAJWK(bits: Int) throws {
        let members = Self.rsaMembers(bits: bits)
        var error: JOSEError?
        // A public check of a random 16384-bit modulus takes most of a second; the size check takes nothing.
        let elapsed = Self.seconds { error = #expect(throws: JOSEError.self) { try JWK(members: members) } }
        #expect(error?.code == .invalidKey)
        #expect(error?.detail.contains("at most 4096") == true)
        #expect(elapsed < 0.2, "refused in \(elapsed) s")
    }

    @Test("leading zero bytes do not count towards the modulus size, and a huge exponent is refused")
    func sizeCounting() throws {
        let real = try JWK(key: try AsymmetricKey.generate(.rsa(bits: 2048))).members
        var padded = real
        padded["n"] = .string(Base64URL.encode([0, 0] + (try Base64URL.decode(real["n"]!.stringValue!))))
        #expect(try JWK(members: padded).key.kind == .rsa(bits: 2048))
        var hugeExponent = real
        hugeExponent["e"] = .string(Base64URL.encode([UInt8](repeating: 0xFF, count: 9)))
        #expect((#expect(throws: JOSEError.self) { try JWK(members: hugeExponent) })?.code == .invalidKey)
        var zero = real
        zero["n"] = .string(Base64URL.encode([0, 0, 0]))
        #expect((#expect(throws: JOSEError.self) { try JWK(members: zero) })?.code == .invalidKey)
    }

    @Test("a 4096-bit RSA key is still accepted, from generation and as a JWK")
    func largestAccepted() throws {
        let key = try AsymmetricKey.generate(.rsa(bits: 4096))
        let jwk = try JWK(members: try JWK(key: key).publicMembers)
        #expect(jwk.key.kind == .rsa(bits: 4096))
        #expect((#expect(throws: JOSEError.self) { try AsymmetricKey.generate(.rsa(bits: 8192)) })?.code == .invalidKey)
    }

    @Test("an RSA public key over 4096 bits is refused from DER and PEM too")
    func hugeRSAFromDER() throws {
        let pki = try TestPKI(name: "huge-rsa")
        let hex = Self.randomModulus(bits: 8192).map { String(format: "%02X", $0) }.joined()
        let configuration = """
            asn1=SEQUENCE:spki
            [spki]
            algorithm=SEQUENCE:algorithm
            key=BITWRAP,SEQUENCE:rsa
            [algorithm]
            oid=OID:rsaEncryption
            parameters=NULL
            [rsa]
            n=INTEGER:0x\(hex)
            e=INTEGER:65537

            """
        try configuration.write(toFile: pki.path("spki.conf"), atomically: true, encoding: .utf8)
        _ = try pki.openssl(["asn1parse", "-genconf", "spki.conf", "-out", "spki.der", "-noout"])
        let der = [UInt8](try Data(contentsOf: URL(fileURLWithPath: pki.path("spki.der"))))
        #expect((#expect(throws: JOSEError.self) { try AsymmetricKey(publicKeyDER: der) })?.code == .invalidKey)
        let pem = "-----BEGIN PUBLIC KEY-----\n" + Base64URL.encodeStandard(der) + "\n-----END PUBLIC KEY-----\n"
        #expect((#expect(throws: JOSEError.self) { try AsymmetricKey(pem: pem) }) != nil)
    }

    @Test("a JWK Set of more than 32 keys is refused before any key is parsed; 32 are accepted")
    func keyCount() throws {
        let key = try JWK(key: try AsymmetricKey.generate(.p256)).publicMembers
        func document(_ count: Int) -> [UInt8] {
            JSON.object(["keys": .array((0..<count).map { index in .object(key.merging(["kid": .string("k\(index)")]) { $1 }) })]).bytes
        }
        #expect(try JWKSet(json: document(JWKSet.maximumKeys)).keys.count == 32)
        #expect((#expect(throws: JOSEError.self) { try JWKSet(json: document(33)) })?.code == .tooLarge)
        // 33 entries of huge RSA keys: refused on the count alone, so in no time.
        let huge = JSON.object(["keys": .array((0..<33).map { _ in .object(Self.rsaMembers(bits: 2048 + 8)) })]).bytes
        #expect((#expect(throws: JOSEError.self) { try JWKSet(json: huge) })?.code == .tooLarge)
    }

    @Test("a JWKS document over 64 KiB is refused by its size")
    func documentSize() throws {
        let key = try JWK(key: try AsymmetricKey.generate(.p256)).publicMembers
        let padding = String(repeating: "x", count: JWKSet.maximumDocumentSize)
        let document = JSON.object(["keys": [.object(key)], "x-padding": .string(padding)]).bytes
        #expect((#expect(throws: JOSEError.self) { try JWKSet(json: document) })?.code == .tooLarge)
        #expect(try JWKSet(json: JSON.object(["keys": [.object(key)]]).bytes).keys.count == 1)
    }

    @Test("a set whose last key is a 16384-bit modulus fails fast, and so does parsing it off the pool")
    func hugeLastKey() async throws {
        let good = try JWK(key: try AsymmetricKey.generate(.p256)).publicMembers
        let document = JSON.object(["keys": [.object(good), .object(Self.rsaMembers(bits: 16384))]]).bytes
        let elapsed = Self.seconds { #expect((#expect(throws: JOSEError.self) { try JWKSet(json: document) })?.code == .invalidKey) }
        #expect(elapsed < 0.2, "refused in \(elapsed) s")
        await #expect(throws: JOSEError.self) { try await JWKSet.parsedOffThePool(json: document) }
        #expect(try await JWKSet.parsedOffThePool(json: JSON.object(["keys": [.object(good)]]).bytes).keys.count == 1)
    }
}
