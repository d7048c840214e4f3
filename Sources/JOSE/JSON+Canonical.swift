internal import Foundation

/// RFC 8785 JSON Canonicalization Scheme (JCS): the one serialization a hash over JSON is taken of (the
/// `authorization_details` a customer or a staff member approved, `ConsentEvidence`).
extension JSON {
    /// The canonical form's UTF-8: no whitespace, object members sorted by the UTF-16 code units of their names
    /// (§3.2.3), strings with only the escapes §3.2.2.2 allows, numbers as ECMAScript writes them (§3.2.2.3).
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        writeCanonical(to: &out)
        return out
    }

    private func writeCanonical(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: JSON.ecmaScriptNumber(d).utf8)
        case .string(let s): JSON.writeCanonicalString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let names = members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            for (index, name) in names.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeCanonicalString(name, to: &out)
                out.append(UInt8(ascii: ":"))
                members[name]!.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// §3.2.2.2: `"` and `\` escaped, U+0008, U+0009, U+000A, U+000C, U+000D as `\b \t \n \f \r`, other controls
    /// as `\u00xx` (lowercase hex), everything else as its UTF-8.
    private static func writeCanonicalString(_ s: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// ECMAScript's Number::toString for a finite double (§3.2.2.3): integers below 1e21 without a fraction or
    /// exponent, otherwise the shortest round-trip digits, with `e+`/`e-` exponents. Non-finite values, which JSON
    /// cannot hold, are written as `null`.
    static func ecmaScriptNumber(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == 0 { return "0" }
        if d.rounded() == d, abs(d) < 1e21 {
            // Exact integer digits (Swift's description would switch to an exponent above 2^53).
            return String(format: "%.0f", d)
        }
        // Swift's description gives the shortest round-trip digits; rewrite its exponent form the ECMAScript way.
        let text = "\(d)"
        guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text }
        let mantissa = String(text[..<e])
        var exponent = String(text[text.index(after: e)...])
        if !exponent.hasPrefix("-") && !exponent.hasPrefix("+") { exponent = "+" + exponent }
        let trimmed = mantissa.hasSuffix(".0") ? String(mantissa.dropLast(2)) : mantissa
        return trimmed + "e" + exponent
    }
}
