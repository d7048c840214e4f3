import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

@Suite("Entropy")
struct EntropyTests {
    @Test("a token is 256 bits in base64url without padding: 43 characters of the URL-safe alphabet")
    func tokenFormat() throws {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for source in [SystemEntropy() as any EntropySource, SeededEntropy()] {
            let token = source.token()
            #expect(token.count == 43)
            #expect(token.allSatisfy(alphabet.contains))
            #expect(try Base64URL.decode(token).count == 32)
        }
    }

    @Test("the same seed gives the same bytes in the same order, however they are drawn; another seed does not")
    func seededIsDeterministic() {
        let first = SeededEntropy(seed: "a")
        let second = SeededEntropy(seed: "a")
        #expect(first.bytes(40) + first.bytes(24) == second.bytes(64))
        #expect(SeededEntropy(seed: "a").token() != SeededEntropy(seed: "b").token())
        // Successive draws differ: the counter advances.
        let source = SeededEntropy(seed: "a")
        #expect(source.token() != source.token())
    }

    @Test("system entropy never repeats a token")
    func systemIsFresh() {
        let source = SystemEntropy()
        #expect(Set((0..<64).map { _ in source.token() }).count == 64)
    }

    @Test("a hex identifier has two lowercase hex digits per byte")
    func hexIdentifier() {
        let id = SeededEntropy().hexIdentifier(bytes: 9)
        #expect(id.count == 18)
        #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
    }
}
