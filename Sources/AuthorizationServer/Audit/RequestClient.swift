import Synchronization

/// The client a request turned out to come from, noted once it is authenticated (`ClientAuthenticator`) or
/// otherwise established (a registration's access token), so the edge can name it on the request's trace span
/// without the core knowing about tracing. Only an identifier: never a credential.
public final class RequestClient: Sendable {
    private let noted = Mutex<String?>(nil)

    public init() {}

    public func note(_ clientID: String) { noted.withLock { $0 = clientID } }

    public var clientID: String? { noted.withLock { $0 } }
}
