import AuthorizationServer
import Testing

@Suite("PasswordHash")
struct PasswordHashTests {
    @Test("scrypt hashes verify the right password only, and are salted")
    func roundTrip() throws {
        let hash = try PasswordHash.make("correct horse battery staple")
        #expect(hash.hasPrefix("scrypt$32768$8$1$"))
        #expect(PasswordHash.verify("correct horse battery staple", against: hash))
        #expect(!PasswordHash.verify("correct horse battery stapler", against: hash))
        #expect(!PasswordHash.verify("", against: hash))
        #expect(try PasswordHash.make("correct horse battery staple") != hash)
    }

    @Test("malformed or oversized encodings never verify", arguments: ["", "scrypt$", "bcrypt$1$2$3$AAAA$AAAA", "scrypt$99999999$8$1$AAAA$AAAA", "scrypt$16$8$1$@@$AAAA"])
    func malformed(encoded: String) {
        #expect(!PasswordHash.verify("x", against: encoded))
    }
}
