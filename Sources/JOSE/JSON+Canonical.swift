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
        case .int(let i): out.append(contentsOf: JSON.ecmaScriptNumber(i).utf8)
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

    /// ECMAScript's Number::toString for a finite double (RFC 8785 §3.2.2.3, ECMA-262 §7.1.12.1): the shortest
    /// digits that read back as the same double (k digits, decimal exponent n: the value is 0.digits × 10^n), then
    /// integers below 1e21 in full, fractions down to 1e-6 as `0.000…`, and everything else as `d.ddde±x`.
    /// `-0` is `0`. Non-finite values, which JSON cannot hold, are written as `null`.
    static func ecmaScriptNumber(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == 0 { return "0" }
        // Swift's description is the shortest round-trip form, closest to the value (the digits ECMAScript asks
        // for); only its layout differs, so take its digits and exponent apart and lay them out again.
        let text = "\(d.magnitude)"
        let mantissa: Substring
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        } else {
            mantissa = text[...]
        }
        let integerPart = mantissa.prefix { $0 != "." }
        let fractionPart = mantissa.drop { $0 != "." }.dropFirst()
        var digits = Array(integerPart) + Array(fractionPart)
        var n = integerPart.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            n -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        let k = digits.count
        let s = String(digits)
        var out = d < 0 ? "-" : ""
        if k <= n && n <= 21 {
            out += s + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            out += String(digits[0..<n]) + "." + String(digits[n...])
        } else if -6 < n && n <= 0 {
            out += "0." + String(repeating: "0", count: -n) + s
        } else {
            let e = n - 1
            out += String(digits[0]) + (k > 1 ? "." + String(digits[1...]) : "") + "e" + (e < 0 ? "-" : "+") + String(e.magnitude)
        }
        return out
    }

    /// An integer as ECMAScript holds it: exactly up to 2^53, beyond that the nearest double (RFC 8785 §3.2.2.3:
    /// JSON numbers are IEEE 754 doubles).
    static func ecmaScriptNumber(_ i: Int64) -> String {
        i.magnitude <= 1 << 53 ? String(i) : ecmaScriptNumber(Double(i))
    }
}
