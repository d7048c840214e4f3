import FapidRuntime
import Foundation

/// Talks to the running daemon over its admin Unix socket: one `AdminRequest`, one `AdminResponse` per line.
struct AdminClient {
    let path: String

    /// The daemon's answer; a refusal (`ok: false`) is thrown as its one-line reason.
    func call(_ request: AdminRequest) throws -> AdminResponse {
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
        let line = [UInt8](try JSONEncoder().encode(request)) + [UInt8(ascii: "\n")]
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
        guard let response = try? JSONDecoder().decode(AdminResponse.self, from: Data(answer.prefix { $0 != UInt8(ascii: "\n") })) else {
            throw Failure(message: "the daemon's answer was not understood")
        }
        if case .failure(let reason) = response { throw Failure(message: reason) }
        return response
    }
}
