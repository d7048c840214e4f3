import AuthorizationServer
public import Hummingbird
import Logging
public import NIOCore
import Synchronization

/// The request context: Hummingbird's core storage plus the connection, so handlers can ask
/// for the client certificate when, and only when, an endpoint needs it.
public struct FapidRequestContext: RequestContext {
    public typealias Source = ApplicationRequestContextSource

    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// The peer's IP address, as seen on the socket.
    public let remoteAddress: String?
    /// The route the request's path reaches (`RequestMetrics.endpoint`), worked out once by the edge pipeline's
    /// first step for every later step and handler.
    var routedEndpoint: String?

    /// `routedEndpoint`, or worked out now for a request that did not come through the pipeline.
    func endpoint(of request: Request) -> String { routedEndpoint ?? RequestMetrics.endpoint(request.uri.path) }

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Request bodies of this server are small forms and JWTs.
    public var maxUploadSize: Int { HTTPLimits.maximumBodySize.load(ordering: .relaxed) }
}
