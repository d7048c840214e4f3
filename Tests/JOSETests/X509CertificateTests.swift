import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

@Suite("X509Certificate and CertificateTrustStore")
struct X509CertificateTests {
    @Test("a CA-issued certificate verifies to its CA; x5t#S256 is base64url(SHA-256(DER))")
    func chain() throws {
        let pki = try TestPKI(name: "chain")
        try pki.makeCA("ca")
        try pki.issue("tpp", subject: "/C=GB/O=Example TPP/OU=0015800001041RbAAI/CN=tpp-client", by: "ca")
        let leaf = try X509Certificate.parsePEM(try pki.read("tpp.pem"))[0]
        let store = try CertificateTrustStore(pemFile: pki.path("ca.pem"))
        let verified = try store.verify(leaf: leaf, at: Date())
        #expect(verified.count == 2)
        #expect(verified[0].der == leaf.der)
        #expect(leaf.subjectDN == "CN=tpp-client,OU=0015800001041RbAAI,O=Example TPP,C=GB")
        #expect(!leaf.isSelfSigned)

        let der = try pki.openssl(["x509", "-in", "tpp.pem", "-outform", "DER", "-out", "tpp.der"])
        _ = der
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: pki.path("tpp.der"))))
        #expect(leaf.der == bytes)
        let opensslDigest = try pki.openssl(["dgst", "-sha256", "-binary", "tpp.der"])
        _ = opensslDigest
        let expected = try Shell.run(["sh", "-c", "openssl dgst -sha256 -binary tpp.der | basenc --base64url | tr -d '=\\n'"], directory: pki.directory)
        #expect(leaf.sha256Thumbprint == expected)
    }

    @Test("certificates from another CA, self-signed ones, and expired ones do not verify")
    func untrusted() throws {
        let pki = try TestPKI(name: "untrusted")
        try pki.makeCA("ca")
        try pki.makeCA("rogue")
        try pki.issue("rogue-client", subject: "/CN=rogue", by: "rogue")
        try pki.selfSigned("self", subject: "/CN=self")
        let store = try CertificateTrustStore(pemFile: pki.path("ca.pem"))
        let rogue = try X509Certificate.parsePEM(try pki.read("rogue-client.pem"))[0]
        let selfSigned = try X509Certificate.parsePEM(try pki.read("self.pem"))[0]
        #expect(throws: JOSEError.self) { try store.verify(leaf: rogue, at: Date()) }
        #expect(throws: JOSEError.self) { try store.verify(leaf: selfSigned, at: Date()) }
        #expect(selfSigned.isSelfSigned)

        try pki.issue("client", subject: "/CN=client", by: "ca", days: 1)
        let client = try X509Certificate.parsePEM(try pki.read("client.pem"))[0]
        _ = try store.verify(leaf: client, at: Date())
        #expect(throws: JOSEError.self) { try store.verify(leaf: client, at: Date().addingTimeInterval(3 * 86_400)) }
    }

    @Test("a JWK with x5c must carry the certificate's key")
    func x5c() throws {
        let pki = try TestPKI(name: "x5c")
        try pki.selfSigned("a", subject: "/CN=a", key: "ec")
        try pki.selfSigned("b", subject: "/CN=b", key: "ec")
        let a = try X509Certificate.parsePEM(try pki.read("a.pem"))[0]
        let b = try X509Certificate.parsePEM(try pki.read("b.pem"))[0]
        var members = try JWK(key: try a.publicKey()).members
        members["x5c"] = .array([.string(Base64URL.encodeStandard(a.der))])
        members["x5t#S256"] = .string(a.sha256Thumbprint)
        #expect(try JWK(members: members).certificateChain()?.first?.der == a.der)
        members["x5c"] = .array([.string(Base64URL.encodeStandard(b.der))])
        #expect(throws: JOSEError.self) { try JWK(members: members) }
    }

    @Test("garbage and truncated DER are refused with a certificate error")
    func garbage() throws {
        let pki = try TestPKI(name: "garbage")
        try pki.selfSigned("a", subject: "/CN=a")
        let der = try X509Certificate.parsePEM(try pki.read("a.pem"))[0].der
        for input in [[], [0x30, 0x82], Array(der.prefix(der.count / 2)), der + [0]] {
            #expect((#expect(throws: JOSEError.self) { try X509Certificate(der: input) })?.code == .certificate)
        }
        #expect(throws: JOSEError.self) { try X509Certificate.parsePEM("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") }
    }

    /// OpenSSL reads BER as well, and writes DER back: a certificate sent with a non-minimal length parsed, and its
    /// x5t#S256 (RFC 8705 §3.1) was the hash of other bytes than those presented. `make fuzz` (x509) caught it.
    @Test("a certificate that is not in DER (a non-minimal length) is refused, so x5t#S256 is over the bytes presented")
    func berIsRefused() throws {
        let pki = try TestPKI(name: "ber")
        try pki.selfSigned("a", subject: "/CN=a")
        let der = try X509Certificate.parsePEM(try pki.read("a.pem"))[0].der
        #expect(der[0] == 0x30 && der[1] == 0x82)
        let longForm = [0x30, 0x83, 0x00] + der.dropFirst(2)
        #expect((#expect(throws: JOSEError.self) { try X509Certificate(der: Array(longForm)) })?.code == .certificate)
        #expect(try X509Certificate(der: der).der == der)
    }
}
