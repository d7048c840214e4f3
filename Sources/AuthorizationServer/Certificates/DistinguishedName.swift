public import OpenSSLKit

/// A distinguished name parsed from its RFC 4514 string form, compared as a name rather than as text.
///
/// RFC 8705 §2.1.2 matches `tls_client_auth_subject_dn` against the certificate subject "as a DN":
/// attribute types compare without case and by OID, values with caseIgnoreMatch after insignificant
/// space handling (RFC 4518 §2.6.1), multi-valued RDNs as sets, and the RDN sequence in order.
public struct DistinguishedName: Sendable, Equatable, CustomStringConvertible {
    public struct Attribute: Sendable, Hashable {
        /// Canonical type: the OID's short name in upper case (`CN`, `O`, `EMAILADDRESS`) or the dotted OID.
        public let type: String
        /// Normalized value: case-folded, inner runs of spaces collapsed, outer spaces trimmed.
        public let value: String
    }

    /// RDNs in RFC 4514 string order: the most specific first (the reverse of the certificate's ASN.1 order).
    public let rdns: [Set<Attribute>]
    public let description: String
    /// False when the name held an attribute whose value could not be decoded (a certificate subject with,
    /// say, a UTF8String of invalid UTF-8): such a name equals no name, itself included (RFC 8705 §2.1.2:
    /// a DN that cannot be compared does not match).
    public let isComparable: Bool

    /// Parses an RFC 4514 string. Throws for empty input, missing `=`, bad escapes and unbalanced quotes.
    public init(rfc4514 text: String) throws(DistinguishedNameError) {
        var rdns: [Set<Attribute>] = []
        var current: Set<Attribute> = []
        var type = ""
        var value: [UInt8] = []
        var readingValue = false
        var escapedTrailing = false
        let bytes = Array(text.utf8)
        var index = 0

        func finishAttribute() throws(DistinguishedNameError) {
            let trimmedType = type.trimmingSpaces()
            guard readingValue, !trimmedType.isEmpty else { throw DistinguishedNameError("attribute without type=value in \(text)") }
            var valueText = String(decoding: value, as: UTF8.self)
            if !escapedTrailing { valueText = valueText.trimmingSpaces() } else { valueText = valueText.trimmingLeadingSpaces() }
            current.insert(Attribute(type: Self.canonicalType(trimmedType), value: Self.normalize(valueText)))
            type = ""
            value = []
            readingValue = false
            escapedTrailing = false
        }

        while index < bytes.count {
            let byte = bytes[index]
            if !readingValue {
                if byte == UInt8(ascii: "=") {
                    readingValue = true
                } else if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "+") {
                    throw DistinguishedNameError("attribute without value in \(text)")
                } else {
                    type.unicodeScalars.append(Unicode.Scalar(byte))
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { throw DistinguishedNameError("dangling escape in \(text)") }
                let next = bytes[index + 1]
                if let high = Self.hexValue(next), index + 2 < bytes.count, let low = Self.hexValue(bytes[index + 2]) {
                    value.append(high << 4 | low)
                    index += 3
                } else if ",+\"\\<>;= #".utf8.contains(next) {
                    value.append(next)
                    index += 2
                } else {
                    throw DistinguishedNameError("invalid escape in \(text)")
                }
                escapedTrailing = index >= bytes.count || bytes[index] == UInt8(ascii: ",") || bytes[index] == UInt8(ascii: "+")
            case UInt8(ascii: "\""):
                // Quoted values (RFC 2253 compatibility): everything up to the closing quote is literal.
                guard let close = bytes[(index + 1)...].firstIndex(of: UInt8(ascii: "\"")) else {
                    throw DistinguishedNameError("unbalanced quote in \(text)")
                }
                value.append(contentsOf: bytes[(index + 1)..<close])
                index = close + 1
            case UInt8(ascii: ","), UInt8(ascii: ";"):
                try finishAttribute()
                rdns.append(current)
                current = []
                index += 1
            case UInt8(ascii: "+"):
                try finishAttribute()
                index += 1
            default:
                value.append(byte)
                index += 1
            }
        }
        try finishAttribute()
        rdns.append(current)
        self.rdns = rdns
        self.description = text
        isComparable = true
    }

    /// The subject of `certificate`, reordered into RFC 4514 string order.
    public init(subjectOf certificate: X509Certificate) {
        let subject = certificate.subjectRDNs
        rdns = subject.reversed().map { set in
            Set(set.map { Attribute(type: Self.canonicalType($0.type, oid: $0.oid), value: Self.normalize($0.value)) })
        }
        description = certificate.subjectDN
        isComparable = subject.allSatisfy { $0.allSatisfy(\.isDecoded) }
    }

    /// Attribute type aliases folded to one spelling (RFC 4514 §3 and common certificate usage).
    static let aliases: [String: String] = [
        "COMMONNAME": "CN", "2.5.4.3": "CN", "COUNTRYNAME": "C", "2.5.4.6": "C", "ORGANIZATIONNAME": "O", "2.5.4.10": "O",
        "ORGANIZATIONALUNITNAME": "OU", "2.5.4.11": "OU", "LOCALITYNAME": "L", "2.5.4.7": "L", "STATEORPROVINCENAME": "ST",
        "S": "ST", "2.5.4.8": "ST", "STREET": "STREET", "STREETADDRESS": "STREET", "2.5.4.9": "STREET", "SERIALNUMBER": "SERIALNUMBER",
        "2.5.4.5": "SERIALNUMBER", "E": "EMAILADDRESS", "EMAIL": "EMAILADDRESS", "1.2.840.113549.1.9.1": "EMAILADDRESS",
        "DOMAINCOMPONENT": "DC", "0.9.2342.19200300.100.1.25": "DC", "USERID": "UID", "0.9.2342.19200300.100.1.1": "UID",
        "ORGANIZATIONIDENTIFIER": "ORGANIZATIONIDENTIFIER", "2.5.4.97": "ORGANIZATIONIDENTIFIER", "OID.2.5.4.97": "ORGANIZATIONIDENTIFIER",
        "JURISDICTIONC": "JURISDICTIONC", "1.3.6.1.4.1.311.60.2.1.3": "JURISDICTIONC", "BUSINESSCATEGORY": "BUSINESSCATEGORY",
        "2.5.4.15": "BUSINESSCATEGORY", "GIVENNAME": "GN", "2.5.4.42": "GN", "SURNAME": "SN", "2.5.4.4": "SN",
    ]

    static func canonicalType(_ type: String, oid: String? = nil) -> String {
        var upper = type.uppercased()
        if upper.hasPrefix("OID.") { upper.removeFirst(4) }
        if let alias = aliases[upper] { return alias }
        if let oid, let alias = aliases[oid] { return alias }
        return upper
    }

    static func normalize(_ value: String) -> String {
        value.lowercased().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public static func == (lhs: DistinguishedName, rhs: DistinguishedName) -> Bool {
        lhs.isComparable && rhs.isComparable && lhs.rdns == rhs.rdns
    }
}

public struct DistinguishedNameError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while slice.first == " " { slice.removeFirst() }
        while slice.last == " " { slice.removeLast() }
        return String(slice)
    }

    func trimmingLeadingSpaces() -> String {
        String(drop { $0 == " " })
    }
}
