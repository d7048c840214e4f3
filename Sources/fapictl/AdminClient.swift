import FapidRuntime
import Foundation
import JOSE

/// Talks to the running daemon over its admin Unix socket: one JSON request, one JSON answer per line.
struct AdminClient {
    let path: String

    func call(_ request: JSON) throws -> [String: JSON] {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(message: "cannot create a socket") }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure(message: "admin socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw Failure(message: "cannot reach the daemon at \(path) (\(String(cString: strerror(errno)))); is fapid running?")
        }
        let line = request.bytes + [UInt8(ascii: "\n")]
        guard line.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == line.count else {
            throw Failure(message: "cannot write to the admin socket")
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !answer.contains(UInt8(ascii: "\n")) {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            answer += buffer[..<count]
        }
        guard let object = try? JSON.parseObject(Array(answer.prefix { $0 != UInt8(ascii: "\n") })) else {
            throw Failure(message: "the daemon's answer was not understood")
        }
        guard object["ok"]?.boolValue == true else { throw Failure(message: object["error"]?.stringValue ?? "the daemon refused the request") }
        return object
    }
}
