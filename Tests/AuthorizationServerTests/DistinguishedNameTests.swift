import AuthorizationServer
import OpenSSLKit
import TestSupport
import Testing

@Suite("DistinguishedName")
struct DistinguishedNameTests {
    func dn(_ text: String) throws -> DistinguishedName { try DistinguishedName(rfc4514: text) }

    @Test("type case, aliases, value case and spacing do not matter; order and content do")
    func matching() throws {
        let reference = try dn("CN=tpp-one,OU=0015800001041RbAAI,O=Example TPP,C=GB")
        #expect(try dn("cn=TPP-ONE, ou=0015800001041rbaai, o=example  tpp, c=gb") == reference)
        #expect(try dn("commonName=tpp-one,organizationalUnitName=0015800001041RbAAI,organizationName=Example TPP,countryName=GB") == reference)
        #expect(try dn("2.5.4.3=tpp-one,OU=0015800001041RbAAI,O=Example TPP,C=GB") == reference)
        #expect(try dn("C=GB,O=Example TPP,OU=0015800001041RbAAI,CN=tpp-one") != reference)
        #expect(try dn("CN=tpp-two,OU=0015800001041RbAAI,O=Example TPP,C=GB") != reference)
        #expect(try dn("CN=tpp-one,O=Example TPP,C=GB") != reference)
    }

    @Test("escapes, hex escapes and multi-valued RDNs")
    func escapes() throws {
        let escaped = try dn(#"CN=Smith\, John,O=A\+B,C=GB"#)
        #expect(escaped.rdns[0].first?.value == "smith, john")
        #expect(escaped.rdns[1].first?.value == "a+b")
        #expect(try dn(#"CN=\41BC,C=GB"#) == dn("CN=ABC,C=GB"))
        #expect(try dn("CN=a+UID=b,C=GB") == dn("UID=b+CN=a,C=GB"))
        #expect(try dn(#"CN="x, y",C=GB"#) == dn(#"CN=x\, y,C=GB"#))
    }

    @Test("malformed names are refused", arguments: ["", "CN", "CN=a,", "=a", #"CN=a\"#, #"CN=a\zz"#, #"CN="open"#, "CN=a,,C=GB"])
    func malformed(text: String) {
        #expect(throws: DistinguishedNameError.self) { try DistinguishedName(rfc4514: text) }
    }

    @Test("a certificate's subject compares equal to its RFC 4514 form, UTF-8 included")
    func fromCertificate() throws {
        let pki = try TestPKI(name: "dn")
        try pki.makeCA("ca")
        try pki.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "u.key", "-out", "u.pem",
            "-utf8", "-subj", "/C=DE/O=Zahlungsdienst Müller GmbH/OU=PSD2/CN=tpp.müller.example", "-days", "1"])
        let certificate = try X509Certificate.parsePEM(try pki.read("u.pem"))[0]
        let subject = DistinguishedName(subjectOf: certificate)
        #expect(try subject == dn("CN=tpp.müller.example,OU=PSD2,O=Zahlungsdienst Müller GmbH,C=DE"))
        #expect(try subject == dn(certificate.subjectDN))
    }
}

@Suite("DistinguishedName fail closed")
struct DistinguishedNameFailClosedTests {
    /// A certificate whose subject's `OU` is an ObjectDescriptor (parsable, but not a string type OpenSSL can turn
    /// into UTF-8): made by issuing `OU=ZZZZZZZZ` as a UTF8String and retagging it. The signature no longer holds,
    /// which does not matter for reading the name.
    func undecodableSubject() throws -> X509Certificate {
        let pki = try TestPKI(name: "dn-undecodable")
        try pki.makeCA("ca")
        try pki.issue("odd", subject: "/C=GB/O=Example TPP Ltd/OU=ZZZZZZZZ/CN=tpp-one", by: "ca")
        var der = try X509Certificate.parsePEM(try pki.read("odd.pem"))[0].der
        let utf8String: [UInt8] = [0x0C, 0x08] + Array("ZZZZZZZZ".utf8)
        let start = try #require((0...(der.count - utf8String.count)).first { Array(der[$0..<($0 + utf8String.count)]) == utf8String })
        der[start] = 0x07  // ObjectDescriptor
        return try X509Certificate(der: der)
    }

    @Test("an attribute that fails UTF-8 conversion is kept, and the name then equals no configured DN")
    func undecodableAttributeFailsTheComparison() throws {
        let certificate = try undecodableSubject()
        let attributes = certificate.subjectRDNs.flatMap { $0 }
        #expect(attributes.count == 4)
        #expect(attributes.contains { $0.type == "OU" && !$0.isDecoded })
        let subject = DistinguishedName(subjectOf: certificate)
        #expect(!subject.isComparable)
        // Dropping the attribute would have made the first one match.
        #expect(try subject != DistinguishedName(rfc4514: "CN=tpp-one,O=Example TPP Ltd,C=GB"))
        #expect(try subject != DistinguishedName(rfc4514: "CN=tpp-one,OU=ZZZZZZZZ,O=Example TPP Ltd,C=GB"))
        #expect(try subject != DistinguishedName(rfc4514: "CN=tpp-one,OU=#07085A5A5A5A5A5A5A5A,O=Example TPP Ltd,C=GB"))
        #expect(subject != DistinguishedName(subjectOf: certificate))
    }
}
