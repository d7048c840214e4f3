import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// HTTP/1.1 over TLS that keeps the client's whole presented certificate chain.
///
/// HummingbirdTLS only offers NIOSSL's plain custom verification callback, which keeps the leaf
/// alone; this channel installs the callback *with metadata*, so handlers can read the presented
/// chain via `nioSSL_peerValidatedCertificateChain()`. The callback accepts any chain: TLS has
/// already proved possession of the leaf's key, and judging the chain (CA-issued or self-signed)
/// is the application's job, per endpoint and per client.
struct MTLSServerChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let context: NIOSSLContext
    let deadlines: ConnectionDeadlines

    init(_ base: Base, context: NIOSSLContext, deadlines: ConnectionDeadlines) {
        self.base = base
        self.context = context
        self.deadlines = deadlines
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let handler = NIOSSLServerHandler(
                context: context,
                configuration: .init(),
                customVerificationCallbackWithMetadata: { presented, promise in
                    promise.succeed(.certificateVerified(VerificationMetadata(ValidatedCertificateChain(presented))))
                }
            )
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.pipeline.syncOperations.addHandler(ByteDeadlineHandler(deadlines: deadlines))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            // Right after NIO's HTTP/1 decoder, where the request's HTTP version is still known.
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(HTTP10ConnectionHandler(), position: .after(decoder.handler))
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension MTLSServerChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 over TLS with the client's presented chain kept for handlers.
    /// `deadlines` close idle connections and cut off requests sent too slowly; `maxHeaderBytes` bounds the request head.
    static func mtls(context: NIOSSLContext, deadlines: ConnectionDeadlines, maxHeaderBytes: Int) -> HTTPServerBuilder {
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestDeadlineHandler()],
            idleTimeout: deadlines.idle,
            httpDecoderConfiguration: .init(maxHeaderFieldSize: maxHeaderBytes, maxHeaderListSize: maxHeaderBytes, maxHeaderFieldCount: 200))
        return .init { responder in
            MTLSServerChannel(HTTP1Channel(responder: responder, configuration: configuration), context: context, deadlines: deadlines)
        }
    }
}
