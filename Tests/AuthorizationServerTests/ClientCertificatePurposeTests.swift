import AuthorizationServer
import Foundation
import OpenSSLKit
import TestSupport
import Testing

/// RFC 5280 §4.2.1.12, FAPI 1 Baseline §5.2.2-5: what `ClientCertificate.evaluate` calls chain-verified (and
/// so usable for tls_client_auth, introspection and DCR) must be a TLS client certificate with a strong key.
@Suite("ClientCertificate purpose")
struct ClientCertificatePurposeTests {
    @Test("a CA-issued serverAuth-only or RSA-1024 certificate is not chain-verified; a clientAuth one is")
    func purposeDecidesTrust() throws {
        let pki = try TestPKI(name: "client-purpose")
        try pki.makeCA("ca")
        let store = try CertificateTrustStore(pemFile: pki.path("ca.pem"))
        func evaluate(_ name: String, bits: Int, eku: String) throws -> ClientCertificate? {
            try pki.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)", "-out", "\(name).key"])
            try pki.openssl(["req", "-new", "-key", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=\(eku)\n".write(
                toFile: pki.path("\(name).ext"), atomically: true, encoding: .utf8)
            try pki.openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem",
                "-days", "2", "-sha256", "-extfile", "\(name).ext"])
            let chain = try X509Certificate.parsePEM(try pki.read("\(name).pem"))
            return ClientCertificate.evaluate(presented: chain, trustStore: store, source: .tls, at: Date())
        }
        #expect(try evaluate("client", bits: 2048, eku: "clientAuth")?.isChainVerified == true)
        let server = try #require(try evaluate("server", bits: 2048, eku: "serverAuth"))
        #expect(!server.isChainVerified)
        let weak = try #require(try evaluate("weak", bits: 1024, eku: "clientAuth"))
        #expect(!weak.isChainVerified)
        if case .unverified(let reason) = weak.trust { #expect(reason.contains("2048")) } else { Issue.record("RSA-1024 must not verify") }
    }
}
