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

    /// The 6-bit value of each base64url character, or 0xFF for bytes outside the alphabet.
    static let decodingTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    /// Decodes unpadded base64url; rejects padding, white space, characters outside the alphabet and
    /// non-zero trailing bits, so every byte string has exactly one accepted encoding (RFC 4648 §3.5,
    /// RFC 7515 §2: a JWS has one serialization).
    public static func decode<Text: StringProtocol>(_ text: Text) throws(CryptoError) -> [UInt8] {
        let table = decodingTable
        let count = text.utf8.count
        guard count % 4 != 1 else { throw CryptoError(.malformed, "invalid base64url length") }
        var output = [UInt8]()
        output.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in text.utf8 {
            let value = table[Int(byte)]
            guard value != 0xFF else { throw CryptoError(.malformed, "invalid base64url character") }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // The 2 or 4 bits left over after the last whole byte must be zero (RFC 4648 §3.5).
        guard accumulator == 0 else { throw CryptoError(.malformed, "non-canonical base64url: trailing bits set") }
        return output
    }

    /// Standard base64 with padding, as used by `x5c` (RFC 7515 §4.1.6).
    public static func decodeStandard(_ text: String) throws(CryptoError) -> [UInt8] {
        guard let data = Data(base64Encoded: text) else { throw CryptoError(.malformed, "invalid base64") }
        return [UInt8](data)
    }

    public static func encodeStandard(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }
}
