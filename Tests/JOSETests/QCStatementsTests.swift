import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

@Suite("QCStatements (eIDAS PSD2 roles)")
struct QCStatementsTests {
    /// QCStatements with QcCompliance and a PSD2QcType for PSP_AI and PSP_PI, competent authority
    /// "Financial Conduct Authority" / "GB-FCA" (ETSI TS 119 495), DER in hex.
    static let psd2Statements =
        "30633008060604008e46010130570606040081982702304d302630110607040081982701030c065053505f414930110607040081982701020c065053505f50490c1b46696e616e6369616c20436f6e6475637420417574686f726974790c0647422d464341"

    func certificate(extension value: String?) throws -> (X509Certificate, TestPKI) {
        let pki = try TestPKI(name: "qc")
        var arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "q.key", "-out", "q.pem", "-days", "1",
            "-subj", "/C=GB/O=Example TPP Ltd/2.5.4.97=PSDGB-FCA-123456/CN=tpp.example.com",
        ]
        if let value { arguments += ["-addext", "1.3.6.1.5.5.7.1.3=DER:\(value)"] }
        try pki.openssl(arguments)
        return (try X509Certificate.parsePEM(try pki.read("q.pem"))[0], pki)
    }

    @Test("PSD2 roles and the competent authority are read from a certificate made by the openssl CLI")
    func roles() throws {
        let (certificate, keep) = try certificate(extension: Self.psd2Statements)
        _ = keep
        let attributes = try #require(try certificate.psd2Attributes())
        #expect(attributes.roles == ["PSP_AI", "PSP_PI"])
        #expect(attributes.competentAuthorityName == "Financial Conduct Authority")
        #expect(attributes.competentAuthorityID == "GB-FCA")
        #expect(certificate.subjectRDNs.flatMap { $0 }.contains { $0.oid == "2.5.4.97" && $0.value == "PSDGB-FCA-123456" })
    }

    @Test("no QCStatements: nil; malformed ones: a certificate error")
    func absentAndMalformed() throws {
        let (plain, keep1) = try certificate(extension: nil)
        #expect(try plain.psd2Attributes() == nil)
        // A role whose name contradicts its OID (PSP_AI's OID named PSP_PI).
        let contradicting = Self.psd2Statements.replacingOccurrences(of: "0c065053505f4149", with: "0c065053505f5049")
        let (bad, keep2) = try certificate(extension: contradicting)
        #expect(throws: JOSEError.self) { try bad.psd2Attributes() }
        // Truncated inner DER (the outer length still covers it, so openssl accepts the extension).
        let (truncated, keep3) = try certificate(extension: "3005300306010a")
        #expect((try? truncated.psd2Attributes()) == nil)
        _ = (keep1, keep2, keep3)
    }

    /// The input of a leak `make fuzz` found: the sequence was refused but not freed. That it is freed is checked by
    /// LeakSanitizer when `make fuzz` replays Tests/Fuzz/Regressions/x509; this checks the refusal.
    @Test("QCStatements followed by a stray byte are malformed")
    func trailingByte() throws {
        let (certificate, keep) = try certificate(extension: Self.psd2Statements + "00")
        _ = keep
        #expect(throws: CryptoError.self) { try certificate.psd2Attributes() }
    }
}
