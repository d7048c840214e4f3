import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The load generator of `make bench`: raw SwiftNIO on one event-loop thread, so it costs little of the
/// two cores it shares with the server. It keeps N mTLS connections busy (one request in flight on each,
/// kept alive), or with `--new-connection` opens a fresh TLS connection for every request (no session
/// resumption), warms up, then records every latency for a fixed time and prints one tab-separated row:
///
///   name  requests/s  p50-ms  p99-ms  errors
///
///   fapiload --name NAME --url https://localhost:PORT/PATH --ca CA.pem [--cert C.pem --key K.pem]
///            [--body-file F | --bodies-file F] [--method POST] [--expect-status 200]
///            [--seconds 10] [--warmup 2] [--connections 32] [--new-connection]
///            [--header NAME:VALUE] [--header-name NAME --header-values-file F]
///
/// `--bodies-file` holds one body per line, used in turn (for single-use values such as client
/// assertions with fresh `jti`s, or a pool of tokens); `--body-file` is one body sent every time.
/// `--header` adds a fixed header to every request (repeatable). `--header-values-file` holds one value
/// per line of the header `--header-name`, each sent once, in order (DPoP proofs, RFC 9449 §11.1: the
/// server refuses a proof it has seen): when they run out the run stops early, the rate is taken over the
/// time measured until then, and fapiload exits with status 3 after printing its row.
/// Latencies are kept exactly (every sample), so the percentiles are exact, not bucketed.
@main
struct FapiLoad {
    struct Options {
        var name = "load"
        var host = "localhost"
        var port = 443
        var path = "/"
        var ca = ""
        var cert: String?
        var key: String?
        var bodies: [ByteBuffer] = [ByteBuffer()]
        var method = HTTPMethod.POST
        var expectStatus = 200
        var seconds = 10.0
        var warmup = 2.0
        var connections = 32
        var newConnection = false
        var contentType = "application/x-www-form-urlencoded"
        var headers: [(String, String)] = []
        var headerName: String?
        var headerValues: [String] = []
    }

    static func parse() -> Options {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst()
        func value() -> String {
            guard let next = arguments.popFirst() else { fail("missing value") }
            return next
        }
        while let flag = arguments.popFirst() {
            switch flag {
            case "--name": options.name = value()
            case "--url":
                guard let url = URL(string: value()), let host = url.host else { fail("bad --url") }
                options.host = host
                options.port = url.port ?? 443
                options.path = url.path.isEmpty ? "/" : url.path
            case "--ca": options.ca = value()
            case "--cert": options.cert = value()
            case "--key": options.key = value()
            case "--body-file":
                guard let data = FileManager.default.contents(atPath: value()) else { fail("cannot read --body-file") }
                options.bodies = [ByteBuffer(bytes: data)]
            case "--bodies-file":
                guard let data = FileManager.default.contents(atPath: value()) else { fail("cannot read --bodies-file") }
                options.bodies = String(decoding: data, as: UTF8.self).split(separator: "\n").map { ByteBuffer(string: String($0)) }
                if options.bodies.isEmpty { fail("--bodies-file is empty") }
            case "--method": options.method = HTTPMethod(rawValue: value())
            case "--expect-status": options.expectStatus = Int(value()) ?? 200
            case "--seconds": options.seconds = Double(value()) ?? 10
            case "--warmup": options.warmup = Double(value()) ?? 2
            case "--connections": options.connections = Int(value()) ?? 32
            case "--new-connection": options.newConnection = true
            case "--content-type": options.contentType = value()
            case "--header":
                let header = value()
                guard let colon = header.firstIndex(of: ":") else { fail("--header wants NAME:VALUE") }
                options.headers.append((String(header[..<colon]), String(header[header.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            case "--header-name": options.headerName = value()
            case "--header-values-file":
                guard let data = FileManager.default.contents(atPath: value()) else { fail("cannot read --header-values-file") }
                options.headerValues = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
                if options.headerValues.isEmpty { fail("--header-values-file is empty") }
            default: fail("unknown option \(flag)")
            }
        }
        if (options.headerName == nil) != options.headerValues.isEmpty { fail("--header-name and --header-values-file go together") }
        return options
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("fapiload: \(message)\n".utf8))
        exit(2)
    }

    static func main() throws {
        let options = parse()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(options.ca)
        if let cert = options.cert, let key = options.key {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        let context = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let run = try loop.submit { Run(options: options, context: context, loop: loop) }.wait()
        let finished = try loop.flatSubmit { run.start() }.wait()
        try group.syncShutdownGracefully()

        var latencies = finished.latencies
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e6
        }
        let rate = finished.measuredSeconds > 0 ? Double(latencies.count) / finished.measuredSeconds : 0
        print(String(format: "%@\t%.0f\t%.2f\t%.2f\t%d", options.name, rate, percentile(0.50), percentile(0.99), finished.errors))
        if finished.ranOut {
            FileHandle.standardError.write(
                Data(
                    ("fapiload: \(options.name): the \(options.headerValues.count) single-use \(options.headerName ?? "") values ran out after "
                        + String(format: "%.1f", finished.measuredSeconds) + " s of the \(options.seconds) s measured; the rate is over that time\n").utf8))
            exit(3)
        }
    }
}

/// One run, confined to the event loop: counters and samples need no locks. Every access happens on `loop`
/// (NIO runs the closures that capture it there), hence the unchecked conformance.
final class Run: @unchecked Sendable {
    struct Result {
        var latencies: [UInt64]
        var errors: Int
        /// The time the rate is taken over: the whole measured time, or up to when the single-use values ran out.
        var measuredSeconds: Double
        var ranOut: Bool
    }

    let options: FapiLoad.Options
    let context: NIOSSLContext
    let loop: any EventLoop
    var recordFrom = NIODeadline.now()
    var stopAt = NIODeadline.now()
    var latencies: [UInt64] = []
    var errors = 0
    var nextBody = 0
    var nextHeaderValue = 0
    /// When the single-use header values ran out (nil: they did not, or there are none).
    var ranOutAt: NIODeadline?
    var active = 0
    var done: EventLoopPromise<Result>

    init(options: FapiLoad.Options, context: NIOSSLContext, loop: any EventLoop) {
        self.options = options
        self.context = context
        self.loop = loop
        done = loop.makePromise()
        latencies.reserveCapacity(1 << 20)
    }

    func start() -> EventLoopFuture<Result> {
        let now = NIODeadline.now()
        recordFrom = now + .milliseconds(Int64(options.warmup * 1000))
        stopAt = recordFrom + .milliseconds(Int64(options.seconds * 1000))
        for _ in 0..<options.connections { connect() }
        return done.futureResult
    }

    func body() -> ByteBuffer {
        let body = options.bodies[nextBody % options.bodies.count]
        nextBody += 1
        return body
    }

    /// The next single-use header value; nil (and the run stops) once every one has been sent.
    func headerValue() -> String? {
        guard nextHeaderValue < options.headerValues.count else {
            if ranOutAt == nil { ranOutAt = NIODeadline.now() }
            return nil
        }
        defer { nextHeaderValue += 1 }
        return options.headerValues[nextHeaderValue]
    }

    var result: Result {
        let end = min(ranOutAt ?? stopAt, stopAt)
        let measured = end > recordFrom ? Double(end.uptimeNanoseconds - recordFrom.uptimeNanoseconds) / 1e9 : 0
        return Result(latencies: latencies, errors: errors, measuredSeconds: measured, ranOut: ranOutAt.map { $0 < stopAt } ?? false)
    }

    /// A request finished (or failed) at `end` after starting at `begin`.
    func record(ok: Bool, begin: NIODeadline, end: NIODeadline) {
        guard begin >= recordFrom, end <= stopAt else { return }
        if ok {
            latencies.append(UInt64(end.uptimeNanoseconds - begin.uptimeNanoseconds))
        } else {
            errors += 1
        }
    }

    var isOver: Bool { ranOutAt != nil || NIODeadline.now() >= stopAt }

    func connect() {
        active += 1
        let begin = NIODeadline.now()
        let handler = LoadHandler(run: self, connectStarted: begin)
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try NIOSSLClientHandler(context: self.context, serverHostname: self.options.host)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: options.host == "localhost" ? "127.0.0.1" : options.host, port: options.port)
            .whenFailure { _ in
                self.record(ok: false, begin: begin, end: NIODeadline.now())
                self.connectionEnded(reconnect: true)
            }
    }

    /// A connection closed: with `--new-connection` (or after an error) another takes its place until the end.
    func connectionEnded(reconnect: Bool) {
        active -= 1
        if reconnect && !isOver {
            connect()
        } else if active == 0 {
            done.succeed(result)
        }
    }
}

/// Confined to its channel's event loop, the run's loop.
final class LoadHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let run: Run
    var begin: NIODeadline
    var status = 0
    var closing = false

    init(run: Run, connectStarted: NIODeadline) {
        self.run = run
        begin = connectStarted
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context: context, fresh: run.options.newConnection)
        context.fireChannelActive()
    }

    func send(context: ChannelHandlerContext, fresh: Bool) {
        // With a new connection per request, the latency includes the TCP and TLS handshakes.
        if !fresh { begin = NIODeadline.now() }
        let options = run.options
        var head = HTTPRequestHead(version: .http1_1, method: options.method, uri: options.path)
        head.headers.add(name: "Host", value: "\(options.host):\(options.port)")
        for (name, value) in options.headers { head.headers.add(name: name, value: value) }
        if let name = options.headerName {
            guard let value = run.headerValue() else {
                // Out of single-use values: this connection ends, and no other starts.
                closing = true
                context.close(promise: nil)
                return
            }
            head.headers.add(name: name, value: value)
        }
        let body = options.method == .GET ? ByteBuffer() : run.body()
        if options.method != .GET {
            head.headers.add(name: "Content-Type", value: options.contentType)
            head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        }
        if options.newConnection { head.headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body:
            break
        case .end:
            let end = NIODeadline.now()
            run.record(ok: status == run.options.expectStatus, begin: begin, end: end)
            if run.options.newConnection || run.isOver {
                closing = true
                context.close(promise: nil)
            } else {
                send(context: context, fresh: false)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !closing { run.record(ok: false, begin: begin, end: NIODeadline.now()) }
        run.connectionEnded(reconnect: run.options.newConnection || !closing)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
