import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// RFC 5280 §4.2.1.3, §4.2.1.12; FAPI 1 Baseline §5.2.2-5: a certificate from a trusted CA authenticates a TLS
/// client only when it is made for that purpose and its key is strong enough.
@Suite("CertificateTrustStore purpose")
struct CertificatePurposeTests {
    /// A leaf issued by `ca` with exactly `extensions` (an openssl extfile) and a key made by `genpkey` `options`.
    func issue(_ pki: TestPKI, _ name: String, extensions: String, key: [String] = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]) throws
        -> X509Certificate
    {
        try pki.openssl(["genpkey"] + key + ["-out", "\(name).key"])
        try pki.openssl(["req", "-new", "-key", "\(name).key", "-out", "\(name).csr", "-subj", "/O=fapid tests/CN=\(name)"])
        try (extensions + "\n").write(toFile: pki.path("\(name).ext"), atomically: true, encoding: .utf8)
        try pki.openssl([
            "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem", "-days", "2",
            "-sha256", "-extfile", "\(name).ext",
        ])
        return try X509Certificate.parsePEM(try pki.read("\(name).pem"))[0]
    }

    func store() throws -> (TestPKI, CertificateTrustStore) {
        let pki = try TestPKI(name: "purpose")
        try pki.makeCA("ca")
        return (pki, try CertificateTrustStore(pemFile: pki.path("ca.pem")))
    }

    @Test("clientAuth certificates with RSA-2048, EC P-256/P-384 keys, or no EKU and no key usage, pass")
    func accepted() throws {
        let (pki, store) = try store()
        let client = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
        for certificate in [
            try issue(pki, "rsa", extensions: client),
            try issue(pki, "p256", extensions: client, key: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
            try issue(pki, "p384", extensions: client, key: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
            try issue(pki, "plain", extensions: "basicConstraints=CA:FALSE"),
            try issue(
                pki, "both", extensions: "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth"),
        ] {
            #expect(try store.verify(leaf: certificate, at: Date(), purpose: .clientAuthentication).count == 2, "\(certificate.subjectDN)")
        }
    }

    @Test(
        "serverAuth-only, signing-only (emailProtection), no digitalSignature and RSA-1024 leaves do not pass as TLS clients",
        arguments: [
            ("server", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth", "2048"),
            ("seal", "basicConstraints=CA:FALSE\nkeyUsage=critical,nonRepudiation\nextendedKeyUsage=emailProtection", "2048"),
            ("no-signature", "basicConstraints=CA:FALSE\nkeyUsage=critical,keyEncipherment\nextendedKeyUsage=clientAuth", "2048"),
            ("weak", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth", "1024"),
        ])
    func refused(name: String, extensions: String, bits: String) throws {
        let (pki, store) = try store()
        let certificate = try issue(pki, name, extensions: extensions, key: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)"])
        // Still a valid chain: only the purpose makes it fail.
        #expect(try store.verify(leaf: certificate, at: Date()).count == 2)
        #expect(throws: JOSEError.self) { try store.verify(leaf: certificate, at: Date(), purpose: .clientAuthentication) }
    }

    @Test("keyAgreement without digitalSignature (which OpenSSL's SSL client purpose alone allows) and a P-224 key are refused")
    func keyAgreementAndSmallCurve() throws {
        let (pki, store) = try store()
        let agreement = try issue(
            pki, "agreement", extensions: "basicConstraints=CA:FALSE\nkeyUsage=critical,keyAgreement\nextendedKeyUsage=clientAuth",
            key: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        #expect(throws: JOSEError.self) { try store.verify(leaf: agreement, at: Date(), purpose: .clientAuthentication) }
        let small = try issue(
            pki, "p224", extensions: "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth",
            key: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-224"])
        #expect(throws: JOSEError.self) { try store.verify(leaf: small, at: Date(), purpose: .clientAuthentication) }
    }
}
