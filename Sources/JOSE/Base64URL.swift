internal import Foundation

/// base64url without padding (RFC 7515 §2, RFC 4648 §5), strict on decode.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Direct table encoding: on the token path (random tokens, thumbprints, JWS) in every request.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        let table = alphabet
        let length = (input.count * 4 + 2) / 3
        return String(unsafeUninitializedCapacity: length) { output in
            var out = 0
            var index = 0
            while index + 3 <= input.count {
                let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                output[out] = table[Int(value >> 18)]
                output[out + 1] = table[Int(value >> 12 & 0x3f)]
                output[out + 2] = table[Int(value >> 6 & 0x3f)]
                output[out + 3] = table[Int(value & 0x3f)]
                out += 4
                index += 3
            }
            let rest = input.count - index
            if rest > 0 {
                var value = UInt32(input[index]) << 16
                if rest == 2 { value |= UInt32(input[index + 1]) << 8 }
                output[out] = table[Int(value >> 18)]
                output[out + 1] = table[Int(value >> 12 & 0x3f)]
                out += 2
                if rest == 2 {
                    output[out] = table[Int(value >> 6 & 0x3f)]
                    out += 1
                }
            }
            return out
        }
    }

    /// Decodes unpadded base64url; rejects padding, white space and characters outside the alphabet.
    public static func decode<Text: StringProtocol>(_ text: Text) throws(JOSEError) -> [UInt8] {
        var standard = [UInt8]()
        standard.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                standard.append(byte)
            case UInt8(ascii: "-"): standard.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): standard.append(UInt8(ascii: "/"))
            default: throw JOSEError(.malformed, "invalid base64url character")
            }
        }
        switch standard.count % 4 {
        case 1: throw JOSEError(.malformed, "invalid base64url length")
        case 2: standard.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "=")])
        case 3: standard.append(UInt8(ascii: "="))
        default: break
        }
        guard let data = Data(base64Encoded: Data(standard)) else {
            throw JOSEError(.malformed, "invalid base64url")
        }
        return [UInt8](data)
    }

    /// Standard base64 with padding, as used by `x5c` (RFC 7515 §4.1.6).
    public static func decodeStandard(_ text: String) throws(JOSEError) -> [UInt8] {
        guard let data = Data(base64Encoded: text) else { throw JOSEError(.malformed, "invalid base64") }
        return [UInt8](data)
    }

    public static func encodeStandard(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }
}
