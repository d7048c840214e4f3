import HTTPTypes
public import NIOCore
import NIOHTTPTypes

/// Keeps slow or silent clients from holding connections (slowloris):
/// - a connection with no request in progress is closed after `idle`;
/// - once the first byte of a request has arrived, the whole request (head and body) must arrive within
///   `request`, however slowly it trickles.
///
/// Two handlers share the work: `ByteDeadlineHandler` sits right after TLS and sees when bytes of a new
/// request start to arrive; `RequestDeadlineHandler` sits after HTTP decoding and sees when a request is
/// complete and when its response has been written.
public struct ConnectionDeadlines: Sendable {
    public var idle: TimeAmount
    public var request: TimeAmount

    public init(idle: TimeAmount, request: TimeAmount) {
        self.idle = idle
        self.request = request
    }
}

final class ByteDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum State {
        /// Between requests: waiting for the first byte of the next one.
        case idle
        /// Bytes of a request are arriving; it is not complete yet.
        case receiving
        /// The request is complete and being answered.
        case answering
    }

    let deadlines: ConnectionDeadlines
    private var state = State.idle
    private var timer: Scheduled<Void>?

    init(deadlines: ConnectionDeadlines) {
        self.deadlines = deadlines
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(deadlines.idle, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .idle {
            state = .receiving
            arm(deadlines.request, context: context)
        }
        context.fireChannelRead(data)
    }

    /// The HTTP decoder delivered the end of a request.
    func requestReceived() {
        state = .answering
        timer?.cancel()
        timer = nil
    }

    /// The response's end was written: the connection is idle again.
    func responseSent(context: ChannelHandlerContext) {
        state = .idle
        arm(deadlines.idle, context: context)
    }

    private func arm(_ delay: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
    }
}

final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var bytes: ByteDeadlineHandler?
    private var channelContext: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        bytes = try? context.pipeline.syncOperations.handler(type: ByteDeadlineHandler.self)
        channelContext = try? context.pipeline.syncOperations.context(handlerType: ByteDeadlineHandler.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        bytes = nil
        channelContext = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { bytes?.requestReceived() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), let bytes, let channelContext { bytes.responseSent(context: channelContext) }
        context.write(data, promise: promise)
    }
}
