import NIOCore
import NIOHTTP1

/// HTTP/1.0 connection semantics (RFC 9112 §9.3), which the HTTP types layer above cannot see (it drops the
/// version): an HTTP/1.0 request without `Connection: keep-alive` gets its response and then the connection is
/// closed; one with it gets `Connection: keep-alive` back and the connection stays open. A response without
/// `Content-Length` cannot be delimited for an HTTP/1.0 client except by closing, so it is sent as HTTP/1.0 and
/// the connection closed after it. HTTP/1.1 requests pass untouched. Sits between NIO's HTTP/1 decoder and the
/// HTTP types codec; requests are answered in order, so a queue pairs each response with its request.
final class HTTP10ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Persistence {
        case http11
        case keepAlive
        case close
    }

    private var pending = CircularBuffer<Persistence>()
    private var closeAfterResponse = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard case .head(var head) = part else {
            context.fireChannelRead(data)
            return
        }
        guard head.version == .http1_0 else {
            pending.append(.http11)
            context.fireChannelRead(data)
            return
        }
        if head.isKeepAlive {
            pending.append(.keepAlive)
        } else {
            pending.append(.close)
            // The server above then ends the connection after this response.
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            switch pending.popFirst() ?? .http11 {
            case .http11:
                context.write(data, promise: promise)
                return
            case .keepAlive where head.headers.contains(name: "content-length"):
                head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
            case .keepAlive, .close:
                if !head.headers.contains(name: "content-length") { head.version = .http1_0 }
                head.headers.replaceOrAdd(name: "connection", value: "close")
                closeAfterResponse = true
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where closeAfterResponse:
            closeAfterResponse = false
            let written = context.eventLoop.makePromise(of: Void.self)
            if let promise { written.futureResult.cascade(to: promise) }
            context.writeAndFlush(data, promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}
