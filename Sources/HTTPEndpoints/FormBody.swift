public import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
public import Synchronization

/// Limits the server sets once at start.
public enum HTTPLimits {
    /// The largest request body accepted (413 beyond, or `invalid_request` for a form).
    public static let maximumBodySize = Atomic<Int>(64 * 1024)
}

/// Reads an `application/x-www-form-urlencoded` body strictly (RFC 6749 §3.2, Appendix B):
/// wrong content type, bodies over the limit, bad percent-encoding, invalid UTF-8 and repeated
/// parameters are all `invalid_request`. Parameters without a value count as omitted (§3.1).
/// `parse` is public for the fuzzer (Tests/Fuzz).
public enum FormBody {
    /// `max_body_bytes`, set once at start.
    static var maximumSize: Int { HTTPLimits.maximumBodySize.load(ordering: .relaxed) }

    static func read(_ request: Request) async throws(OAuthError) -> [String: String] {
        guard MediaType.essence(request.headers[.contentType]) == "application/x-www-form-urlencoded" else {
            throw OAuthError(.invalidRequest, "Content-Type must be application/x-www-form-urlencoded")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumSize)
        } catch {
            throw OAuthError(.invalidRequest, "request body too large or unreadable")
        }
        return try parse(Array(buffer.readableBytesView))
    }

    public static func parse(_ body: [UInt8]) throws(OAuthError) -> [String: String] {
        var parameters: [String: String] = [:]
        var seen = Set<String>()
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = try decode(parts[0])
            let value = parts.count > 1 ? try decode(parts[1]) : ""
            guard !name.isEmpty else { throw OAuthError(.invalidRequest, "a parameter has no name") }
            guard seen.insert(name).inserted else { throw OAuthError(.invalidRequest, "parameter \(name) is repeated") }
            if !value.isEmpty { parameters[name] = value }
        }
        return parameters
    }

    private static func decode(_ bytes: ArraySlice<UInt8>) throws(OAuthError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
                index += 1
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2])
                else {
                    throw OAuthError(.invalidRequest, "malformed percent-encoding")
                }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw OAuthError(.invalidRequest, "parameters must be UTF-8") }
        return text
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The essence of a `Content-Type` (RFC 9110 §8.3.1): type/subtype, lowercased, without parameters or
/// surrounding white space, in ASCII without Foundation.
enum MediaType {
    static func essence(_ value: String?) -> String {
        guard let value else { return "" }
        var bytes = Array(value.utf8.prefix { $0 != UInt8(ascii: ";") })
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        let start = bytes.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? bytes.endIndex
        return String(decoding: bytes[start...].map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}
