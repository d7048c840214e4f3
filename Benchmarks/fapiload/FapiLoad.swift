import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small load generator for `make bench`: N kept-alive mTLS connections, each sending the same form
/// POST back to back for a fixed time; prints requests/s, p50, p99 and errors as one table row.
///
///   fapiload NAME URL BODY_FILE CA CERT KEY SECONDS CONNECTIONS
@main
struct FapiLoad {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 9, let seconds = Double(arguments[7]), let connections = Int(arguments[8]) else {
            FileHandle.standardError.write(Data("usage: fapiload NAME URL BODY_FILE CA CERT KEY SECONDS CONNECTIONS\n".utf8))
            exit(2)
        }
        let (name, url) = (arguments[1], arguments[2])
        let body = try Data(contentsOf: URL(fileURLWithPath: arguments[3]))
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(arguments[4])
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(arguments[5]).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: arguments[6], format: .pem))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)

        func send() async -> Bool {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(bytes: body))
            guard let response = try? await client.execute(request, timeout: .seconds(10)) else { return false }
            _ = try? await response.body.collect(upTo: 1 << 20)
            return response.status == .ok
        }

        // Warm up: open the connections and fill caches.
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<connections { group.addTask { for _ in 0..<20 { _ = await send() } } }
        }
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int64(seconds * 1000))
        let results = await withTaskGroup(of: ([Double], Int).self) { group in
            for _ in 0..<connections {
                group.addTask {
                    var latencies: [Double] = []
                    latencies.reserveCapacity(100_000)
                    var errors = 0
                    while ContinuousClock.now < deadline {
                        let begin = ContinuousClock.now
                        let ok = await send()
                        let elapsed = ContinuousClock.now - begin
                        if ok {
                            latencies.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
                        } else {
                            errors += 1
                        }
                    }
                    return (latencies, errors)
                }
            }
            var all: [Double] = []
            var errors = 0
            for await (latencies, failed) in group {
                all += latencies
                errors += failed
            }
            return (all, errors)
        }
        let elapsed = ContinuousClock.now - start
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let sorted = results.0.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let rate = Double(sorted.count) / wall
        print(
            name.padding(toLength: 28, withPad: " ", startingAt: 0)
                + String(format: "%12.0f %9.2f ms %9.2f ms %8d", rate, percentile(0.5), percentile(0.99), results.1)
        )
        try await client.shutdown()
    }
}
