internal import COpenSSL

extension X509Certificate {
    /// The PSD2 attributes of an eIDAS certificate (ETSI TS 119 495 §5.1): the roles of the payment service
    /// provider and the competent authority, from the QCStatements extension (RFC 3739, id-pe-qcStatements).
    public struct PSD2Attributes: Sendable, Equatable {
        /// Role names as the certificate gives them: `PSP_AS`, `PSP_PI`, `PSP_AI`, `PSP_IC`.
        public var roles: [String]
        public var competentAuthorityName: String
        public var competentAuthorityID: String
    }

    static let qcStatementsOID = "1.3.6.1.5.5.7.1.3"
    static let psd2StatementOID = "0.4.0.19495.2"
    /// ETSI TS 119 495 role OIDs to their names, which a certificate must agree with.
    static let psd2Roles: [String: String] = [
        "0.4.0.19495.1.1": "PSP_AS", "0.4.0.19495.1.2": "PSP_PI", "0.4.0.19495.1.3": "PSP_AI", "0.4.0.19495.1.4": "PSP_IC",
    ]

    /// The PSD2 QCStatement, or nil when the certificate has none. Decoding goes through OpenSSL's generic
    /// ASN.1 parser (`d2i_ASN1_SEQUENCE_ANY`); an extension that is present but malformed throws.
    public func psd2Attributes() throws(CryptoError) -> PSD2Attributes? {
        try withX509 { x509 throws(CryptoError) -> PSD2Attributes? in
            guard let object = OBJ_txt2obj(Self.qcStatementsOID, 1) else { return nil }
            defer { ASN1_OBJECT_free(object) }
            let index = X509_get_ext_by_OBJ(x509, object, -1)
            guard index >= 0, let ext = X509_get_ext(x509, index), let data = X509_EXTENSION_get_data(ext) else { return nil }
            let statements = try Self.sequence(ASN1_STRING_get0_data(data), Int(ASN1_STRING_length(data)))
            defer { fapid_asn1_types_free(statements) }
            for statementIndex in 0..<fapid_asn1_types_count(statements) {
                let statement = try Self.sequence(of: fapid_asn1_types_value(statements, statementIndex))
                defer { fapid_asn1_types_free(statement) }
                guard fapid_asn1_types_count(statement) >= 1, Self.oid(fapid_asn1_types_value(statement, 0)) == Self.psd2StatementOID else { continue }
                guard fapid_asn1_types_count(statement) == 2 else { throw CryptoError(.certificate, "PSD2 QCStatement without its value") }
                let psd2 = try Self.sequence(of: fapid_asn1_types_value(statement, 1))
                defer { fapid_asn1_types_free(psd2) }
                guard fapid_asn1_types_count(psd2) == 3 else { throw CryptoError(.certificate, "PSD2QcType must have three members") }
                let rolesOfPSP = try Self.sequence(of: fapid_asn1_types_value(psd2, 0))
                defer { fapid_asn1_types_free(rolesOfPSP) }
                var roles: [String] = []
                for roleIndex in 0..<fapid_asn1_types_count(rolesOfPSP) {
                    let role = try Self.sequence(of: fapid_asn1_types_value(rolesOfPSP, roleIndex))
                    defer { fapid_asn1_types_free(role) }
                    guard fapid_asn1_types_count(role) == 2, let id = Self.oid(fapid_asn1_types_value(role, 0)),
                        let name = Self.utf8(fapid_asn1_types_value(role, 1))
                    else { throw CryptoError(.certificate, "malformed RoleOfPSP") }
                    // The OID decides; a name that contradicts it is refused.
                    if let expected = Self.psd2Roles[id] {
                        guard expected == name else { throw CryptoError(.certificate, "RoleOfPSP \(id) is named \(name)") }
                        roles.append(expected)
                    }
                }
                guard let ncaName = Self.utf8(fapid_asn1_types_value(psd2, 1)), let ncaID = Self.utf8(fapid_asn1_types_value(psd2, 2)) else {
                    throw CryptoError(.certificate, "PSD2QcType without its competent authority")
                }
                return PSD2Attributes(roles: roles, competentAuthorityName: ncaName, competentAuthorityID: ncaID)
            }
            return nil
        }
    }

    private static func sequence(_ bytes: UnsafePointer<UInt8>?, _ length: Int) throws(CryptoError) -> OpaquePointer {
        var cursor = bytes
        guard let bytes, let parsed = d2i_ASN1_SEQUENCE_ANY(nil, &cursor, length) else {
            OpenSSLErrorQueue.clear()
            throw CryptoError(.certificate, "malformed QCStatements")
        }
        // A sequence followed by more bytes is malformed too, and what was parsed is freed (`make fuzz` found it kept).
        guard cursor == bytes + length else {
            fapid_asn1_types_free(parsed)
            throw CryptoError(.certificate, "malformed QCStatements")
        }
        return parsed
    }

    private static func sequence(of type: UnsafeMutablePointer<ASN1_TYPE>?) throws(CryptoError) -> OpaquePointer {
        guard let type, type.pointee.type == V_ASN1_SEQUENCE, let string = type.pointee.value.sequence else {
            throw CryptoError(.certificate, "expected an ASN.1 SEQUENCE in QCStatements")
        }
        return try sequence(ASN1_STRING_get0_data(string), Int(ASN1_STRING_length(string)))
    }

    private static func oid(_ type: UnsafeMutablePointer<ASN1_TYPE>?) -> String? {
        guard let type, type.pointee.type == V_ASN1_OBJECT, let object = type.pointee.value.object else { return nil }
        var buffer = [CChar](repeating: 0, count: 128)
        guard OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1) > 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func utf8(_ type: UnsafeMutablePointer<ASN1_TYPE>?) -> String? {
        guard let type, type.pointee.type == V_ASN1_UTF8STRING, let string = type.pointee.value.utf8string,
            let data = ASN1_STRING_get0_data(string)
        else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))), as: UTF8.self)
    }
}
