/// An RFC 7512 `pkcs11:` URI naming a token, or a key object in one.
///
/// Only what fapid needs is kept: the token (label, serial, manufacturer, model) and the object (label, id,
/// type). A PIN never travels in a URI (`pin-value`, `pin-source`), nor does the module (`module-path`,
/// `module-name`): both come from the daemon's settings, so a URI stored in the database or printed by
/// `fapictl keys list` gives nothing away. Those attributes, and any attribute RFC 7512 does not define, are refused.
public struct PKCS11URI: Sendable, Equatable, CustomStringConvertible {
    public var token: String?
    public var serial: String?
    public var manufacturer: String?
    public var model: String?
    /// CKA_LABEL of the key object.
    public var object: String?
    /// CKA_ID of the key object.
    public var id: [UInt8]?
    /// `private`, `public`, `cert`, `secret-key` or `data`.
    public var type: String?

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(token: String? = nil, serial: String? = nil, object: String? = nil, id: [UInt8]? = nil, type: String? = nil) {
        self.token = token
        self.serial = serial
        self.object = object
        self.id = id
        self.type = type
    }

    static let scheme = "pkcs11:"

    /// The URI of the token alone (label, serial, manufacturer, model), without the object.
    public var tokenPart: PKCS11URI {
        var part = PKCS11URI(token: token, serial: serial)
        part.manufacturer = manufacturer
        part.model = model
        return part
    }

    /// Whether `text` looks like a PKCS#11 URI (as opposed to a key file path).
    public static func isURI(_ text: String) -> Bool { text.hasPrefix(scheme) }

    public init(parsing text: String) throws(Failure) {
        guard text.hasPrefix(Self.scheme), text.utf8.count <= 4096 else { throw Failure(description: "not a pkcs11: URI") }
        var rest = Substring(text.dropFirst(Self.scheme.count))
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name = part.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            switch name {
            case "pin-value", "pin-source":
                throw Failure(description: "the URI carries a PIN (\(name)): give it in pkcs11_pin_file or FAPID_PKCS11_PIN instead")
            case "module-path", "module-name":
                throw Failure(description: "the URI names a module (\(name)): set pkcs11_module instead")
            default:
                throw Failure(description: "the URI has a query attribute RFC 7512 does not define (\(Self.printable(name)))")
            }
        }
        var seen: Set<String> = []
        for part in rest.split(separator: ";", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2 else { throw Failure(description: "the URI attribute \(Self.printable(String(part))) has no value") }
            let name = String(pieces[0])
            guard seen.insert(name).inserted else { throw Failure(description: "the URI repeats the attribute \(Self.printable(name))") }
            let value = try Self.percentDecoded(pieces[1])
            // Only an id is binary; a NUL in a label would cut it short at the C boundary (token "a%00b" naming "a").
            guard name == "id" || !value.contains(0) else { throw Failure(description: "the URI attribute \(Self.printable(name)) holds a NUL") }
            let text = String(decoding: value, as: UTF8.self)
            switch name {
            case "token": token = text
            case "serial": serial = text
            case "manufacturer": manufacturer = text
            case "model": model = text
            case "object": object = text
            case "id": id = value
            case "type":
                guard ["private", "public", "cert", "secret-key", "data"].contains(text) else {
                    throw Failure(description: "the URI's type must be private, public, cert, secret-key or data")
                }
                type = text
            case "library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer", "slot-id":
                // Defined by RFC 7512 and accepted by the engine; fapid does not use them itself.
                break
            default:
                throw Failure(description: "the URI has a path attribute RFC 7512 does not define (\(Self.printable(name)))")
            }
        }
    }

    /// The URI in a canonical form: the attributes fapid keeps, in a fixed order, percent-encoded.
    public var description: String {
        var parts: [String] = []
        if let token { parts.append("token=" + Self.percentEncoded(Array(token.utf8))) }
        if let manufacturer { parts.append("manufacturer=" + Self.percentEncoded(Array(manufacturer.utf8))) }
        if let model { parts.append("model=" + Self.percentEncoded(Array(model.utf8))) }
        if let serial { parts.append("serial=" + Self.percentEncoded(Array(serial.utf8))) }
        if let object { parts.append("object=" + Self.percentEncoded(Array(object.utf8))) }
        if let id { parts.append("id=" + id.map { "%" + Self.hex($0) }.joined()) }
        if let type { parts.append("type=" + type) }
        return Self.scheme + parts.joined(separator: ";")
    }

    /// RFC 7512 §2.3 `pk11-pchar` without the percent-encoded form: unreserved characters and `:[]@!$'()*+,` (and `=`
    /// inside a value, which `percentDecoded` accepts; the canonical form encodes it).
    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"), UInt8(ascii: "["),
            UInt8(ascii: "]"), UInt8(ascii: "@"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","):
            true
        default: false
        }
    }

    static func percentEncoded(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes {
            if isPlain(byte) { out.unicodeScalars.append(Unicode.Scalar(byte)) } else { out += "%" + hex(byte) }
        }
        return out
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }

    private static func percentDecoded(_ text: Substring) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard bytes.count >= 2, bytes.prefix(2).allSatisfy({ Self.isHexDigit($0) }),
                    let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
                else {
                    throw Failure(description: "the URI has a malformed percent-encoding")
                }
                out.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                guard isPlain(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "=") else {
                    throw Failure(description: "the URI has a character that must be percent-encoded")
                }
                out.append(byte)
            }
        }
        return out
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// A name for an error message: printable ASCII only, at most 40 characters.
    private static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(40).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" ? $0 : "?" }))
    }
}
