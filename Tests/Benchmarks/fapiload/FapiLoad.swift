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
///
/// `--bodies-file` holds one body per line, used in turn (for single-use values such as client
/// assertions with fresh `jti`s, or a pool of tokens); `--body-file` is one body sent every time.
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
            default: fail("unknown option \(flag)")
            }
        }
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
        let rate = Double(latencies.count) / options.seconds
        print(String(format: "%@\t%.0f\t%.2f\t%.2f\t%d", options.name, rate, percentile(0.50), percentile(0.99), finished.errors))
    }
}

/// One run, confined to the event loop: counters and samples need no locks. Every access happens on `loop`
/// (NIO runs the closures that capture it there), hence the unchecked conformance.
final class Run: @unchecked Sendable {
    struct Result {
        var latencies: [UInt64]
        var errors: Int
    }

    let options: FapiLoad.Options
    let context: NIOSSLContext
    let loop: any EventLoop
    var recordFrom = NIODeadline.now()
    var stopAt = NIODeadline.now()
    var latencies: [UInt64] = []
    var errors = 0
    var nextBody = 0
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

    /// A request finished (or failed) at `end` after starting at `begin`.
    func record(ok: Bool, begin: NIODeadline, end: NIODeadline) {
        guard begin >= recordFrom, end <= stopAt else { return }
        if ok {
            latencies.append(UInt64(end.uptimeNanoseconds - begin.uptimeNanoseconds))
        } else {
            errors += 1
        }
    }

    var isOver: Bool { NIODeadline.now() >= stopAt }

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
            done.succeed(Result(latencies: latencies, errors: errors))
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
