import JOSE
import OpenSSLKit
import Testing

@Suite("SealedBox (AES-256-GCM)")
struct SealedBoxTests {
    let key = Crypto.randomBytes(32)

    @Test("a sealed box opens with its key and additional data, and with nothing else")
    func roundTrip() throws {
        let secret = Array("-----BEGIN PRIVATE KEY-----\nMC4C…\n-----END PRIVATE KEY-----\n".utf8)
        let box = try SealedBox.seal(secret, key: key, additionalData: Array("kid-1".utf8))
        #expect(box.count == 12 + secret.count + 16)
        #expect(try SealedBox.open(box, key: key, additionalData: Array("kid-1".utf8)) == secret)
        // A fresh nonce each time: the same secret never seals to the same bytes.
        #expect(try SealedBox.seal(secret, key: key, additionalData: Array("kid-1".utf8)) != box)
        #expect(throws: JOSEError.self) { try SealedBox.open(box, key: Crypto.randomBytes(32), additionalData: Array("kid-1".utf8)) }
        #expect(throws: JOSEError.self) { try SealedBox.open(box, key: key, additionalData: Array("kid-2".utf8)) }
        for index in [0, 12, box.count - 1] {
            var altered = box
            altered[index] ^= 0x01
            #expect(throws: JOSEError.self) { try SealedBox.open(altered, key: key, additionalData: Array("kid-1".utf8)) }
        }
        #expect(throws: JOSEError.self) { try SealedBox.open(Array(box.prefix(27)), key: key, additionalData: []) }
        #expect(throws: JOSEError.self) { try SealedBox.seal(secret, key: Array(key.prefix(16)), additionalData: []) }
        #expect(try SealedBox.open(try SealedBox.seal([], key: key, additionalData: []), key: key, additionalData: []) == [])
    }
}
