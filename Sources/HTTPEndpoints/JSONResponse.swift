import HTTPTypes
import Hummingbird
import JOSE
import NIOCore

enum JSONResponse {
    /// A JSON response from already-serialized bytes.
    static func make(status: HTTPResponse.Status = .ok, bytes: [UInt8], cache: String = "no-store") -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: cache],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    static func make(status: HTTPResponse.Status = .ok, _ value: JSON, cache: String = "no-store") -> Response {
        make(status: status, bytes: value.bytes, cache: cache)
    }
}
