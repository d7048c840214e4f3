import Foundation
import JOSE
import OpenSSLKit

/// Reads the RFC vectors kept in Fixtures/ beside these tests.
enum TestFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func json(_ name: String) throws -> [String: JSON] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSON.parseObject([UInt8](data))
    }

    static func vector(_ name: String) throws -> (jwk: JWK, jws: String, members: [String: JSON]) {
        let object = try json(name)
        return (try JWK(members: object["jwk"]!.objectValue!), object["jws"]?.stringValue ?? "", object)
    }

    /// Builds a compact JWS from raw segments, for malformed-input tests.
    static func token(header: String, payload: String = "{}", signature: [UInt8] = [1, 2, 3]) -> String {
        Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8)) + "." + Base64URL.encode(signature)
    }
}
