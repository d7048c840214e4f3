import OpenSSLKit

/// Duplicate member names (RFC 7515 §4, RFC 7519 §4, RFC 7517 §4: a JOSE header, claim set or JWK with
/// duplicate names must be rejected). `JSONDecoder` keeps one of the values silently, and other parsers
/// keep another, so two parties could read different claims from one signed text.
extension JSON {
    /// The first member name that occurs twice in one object of `bytes`, or nil.
    ///
    /// Expects JSON that `JSONDecoder` has already accepted, so it only tracks structure and keys; names
    /// are compared as Swift strings after unescaping, exactly as they would collide in `[String: JSON]`.
    /// Iterative, so nesting depth costs heap, not stack.
    static func firstDuplicateName(in bytes: [UInt8]) -> String? {
        // One entry per open container: the names seen so far for an object, nil for an array.
        var open: [Set<String>?] = []
        var expectingName = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                open.append([])
                expectingName = true
            case UInt8(ascii: "["):
                open.append(nil)
                expectingName = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = open.popLast()
                expectingName = false
            case UInt8(ascii: ","):
                expectingName = open.last.map { $0 != nil } ?? false
            case UInt8(ascii: "\""):
                let end = Self.endOfString(bytes, from: index)
                if expectingName, open.last.flatMap({ $0 }) != nil {
                    let name = Self.unescape(bytes[(index + 1)..<end])
                    guard open[open.count - 1]!.insert(name).inserted else { return name }
                    expectingName = false
                }
                index = end
            default:
                break
            }
            index += 1
        }
        return nil
    }

    /// The index of the closing quote of the string opening at `start`.
    private static func endOfString(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index
            default: index += 1
            }
        }
        return bytes.count
    }

    /// The string value of a JSON string body (RFC 8259 §7); `\u` escapes, surrogate pairs included,
    /// as UTF-16, lone surrogates replaced as Swift's decoder does.
    private static func unescape(_ body: ArraySlice<UInt8>) -> String {
        guard body.contains(UInt8(ascii: "\\")) else { return String(decoding: body, as: UTF8.self) }
        var result = ""
        var plain: [UInt8] = []
        var units: [UInt16] = []
        func flushPlain() {
            if !plain.isEmpty { result += String(decoding: plain, as: UTF8.self) }
            plain.removeAll(keepingCapacity: true)
        }
        func flushUnits() {
            if !units.isEmpty { result += String(decoding: units, as: UTF16.self) }
            units.removeAll(keepingCapacity: true)
        }
        var index = body.startIndex
        while index < body.endIndex {
            let byte = body[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < body.endIndex else {
                flushUnits()
                plain.append(byte)
                index += 1
                continue
            }
            let escaped = body[index + 1]
            if escaped == UInt8(ascii: "u"), index + 6 <= body.endIndex, let unit = hexValue(body[(index + 2)..<(index + 6)]) {
                flushPlain()
                units.append(unit)
                index += 6
                continue
            }
            flushUnits()
            switch escaped {
            case UInt8(ascii: "b"): plain.append(0x08)
            case UInt8(ascii: "f"): plain.append(0x0C)
            case UInt8(ascii: "n"): plain.append(0x0A)
            case UInt8(ascii: "r"): plain.append(0x0D)
            case UInt8(ascii: "t"): plain.append(0x09)
            default: plain.append(escaped)  // \" \\ \/
            }
            index += 2
        }
        flushPlain()
        flushUnits()
        return result
    }

    private static func hexValue(_ digits: ArraySlice<UInt8>) -> UInt16? {
        var value: UInt16 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(nibble)
        }
        return value
    }
}
