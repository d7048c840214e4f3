internal import COpenSSL
internal import Foundation

extension X509Certificate {
    /// One attribute of a relative distinguished name: the type's short name (`CN`, `O`, …, or the
    /// dotted OID when OpenSSL has no name for it) and the value as UTF-8.
    public struct NameAttribute: Sendable, Equatable {
        public let type: String
        public let oid: String
        /// The value as UTF-8; when `isDecoded` is false, a lossy rendering of the raw bytes, for logs only.
        public let value: String
        /// False when the value is not a valid string of its ASN.1 type (e.g. a UTF8String holding bad UTF-8):
        /// such an attribute is kept, so that a comparison can fail on it (RFC 8705 §2.1.2: fail closed).
        public let isDecoded: Bool
    }

    /// The subject as RDNs in ASN.1 order (country first, usually), each RDN a set of attributes.
    public var subjectRDNs: [[NameAttribute]] {
        withX509 { x509 in Self.rdns(X509_get_subject_name(x509)) }
    }

    static func rdns(_ name: OpaquePointer?) -> [[NameAttribute]] {
        guard let name else { return [] }
        var result: [[NameAttribute]] = []
        var lastSet: Int32 = -1
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index) else { continue }
            let object = X509_NAME_ENTRY_get_object(entry)
            let nid = OBJ_obj2nid(object)
            var oidBuffer = [CChar](repeating: 0, count: 128)
            OBJ_obj2txt(&oidBuffer, Int32(oidBuffer.count), object, 1)
            let oid = String(nulTerminated: oidBuffer)
            let type = nid == NID_undef ? oid : String(cString: OBJ_nid2sn(nid))
            var utf8: UnsafeMutablePointer<UInt8>?
            let data = X509_NAME_ENTRY_get_data(entry)
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            let attribute: NameAttribute
            if length >= 0 {
                let value = utf8.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) } ?? ""
                if let utf8 { fapid_openssl_free(utf8) }
                attribute = NameAttribute(type: type, oid: oid, value: value, isDecoded: true)
            } else {
                OpenSSLErrorQueue.clear()
                let raw = Self.bytes(data) ?? []
                attribute = NameAttribute(type: type, oid: oid, value: String(decoding: raw, as: UTF8.self), isDecoded: false)
            }
            let set = X509_NAME_ENTRY_set(entry)
            if set == lastSet, !result.isEmpty {
                result[result.count - 1].append(attribute)
            } else {
                result.append([attribute])
            }
            lastSet = set
        }
        return result
    }

    /// Subject alternative names (RFC 5280 §4.2.1.6) of the kinds RFC 8705 §2.1.2 matches on.
    public struct SubjectAlternativeNames: Sendable, Equatable {
        public var dns: [String] = []
        public var uris: [String] = []
        /// Textual form: dotted quad for IPv4, RFC 5952 for IPv6.
        public var ipAddresses: [String] = []
        public var emails: [String] = []
    }

    public var subjectAlternativeNames: SubjectAlternativeNames {
        withX509 { x509 in
            var names = SubjectAlternativeNames()
            guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else {
                OpenSSLErrorQueue.clear()
                return names
            }
            let general = OpaquePointer(raw)
            defer { fapid_general_names_free(general) }
            for index in 0..<fapid_general_names_count(general) {
                guard let name = fapid_general_names_value(general, index) else { continue }
                switch name.pointee.type {
                case GEN_DNS: if let text = Self.string(name.pointee.d.dNSName) { names.dns.append(text) }
                case GEN_URI: if let text = Self.string(name.pointee.d.uniformResourceIdentifier) { names.uris.append(text) }
                case GEN_EMAIL: if let text = Self.string(name.pointee.d.rfc822Name) { names.emails.append(text) }
                case GEN_IPADD:
                    if let bytes = Self.bytes(name.pointee.d.iPAddress), let text = Self.ipText(bytes) { names.ipAddresses.append(text) }
                default: break
                }
            }
            return names
        }
    }

    private static func bytes(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> [UInt8]? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
    }

    private static func string(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        bytes(string).map { String(decoding: $0, as: UTF8.self) }
    }

    static func ipText(_ bytes: [UInt8]) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        return bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil ? String(nulTerminated: buffer) : nil
        }
    }
}
