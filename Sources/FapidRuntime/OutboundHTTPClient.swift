import AsyncHTTPClient
public import AuthorizationServer
public import CertificateStatus
import FapidTracing
import Foundation
import Instrumentation
import Tracing
import JOSE
import NIOCore
import NIOSSL
import NIOHTTP1
public import ServiceLifecycle

/// Outgoing HTTPS (client `jwks_uri` now; CIBA notifications and directory keys later): the system
/// CA store plus configured extra roots, short timeouts, no redirects, bounded response bodies.
/// A `Service`, so its connections close at shutdown.
public final class OutboundHTTPClient: JWKSFetcher, StatusFetcher, Service {
    let client: HTTPClient
    let timeout: TimeAmount
    /// The most a `jwks_uri` answer may hold: a larger body is refused unread beyond this (CWE-400).
    let maximumBody: Int
    /// Applied to the URLs clients give (`jwks_uri`, notification endpoints); not to OCSP and CRL URLs,
    /// which come from certificates of the configured CAs.
    let addresses: OutboundAddressPolicy

    public init(
        extraRootsFile: String?, timeoutSeconds: Int64 = 2, maximumBody: Int = 64 * 1024,
        addresses: OutboundAddressPolicy = OutboundAddressPolicy(allowPrivateNetworks: false)
    ) {
        self.addresses = addresses
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let extraRootsFile, FileManager.default.fileExists(atPath: extraRootsFile) {
            tls.additionalTrustRoots = [.file(extraRootsFile)]
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(timeoutSeconds), read: .seconds(timeoutSeconds))
        )
        configuration.httpVersion = .http1Only
        // Its own spans would record the URL with its query (a jwks_uri's, a notification endpoint's); `exchange`
        // makes ours instead.
        configuration.tracing.tracer = nil
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        timeout = .seconds(timeoutSeconds)
        // A JWKS larger than the parser accepts is not worth reading.
        self.maximumBody = min(maximumBody, JWKSet.maximumDocumentSize)
    }

    public func fetch(_ url: String) async throws(JWKSFetchError) -> [UInt8] {
        guard url.hasPrefix("https://") else { throw JWKSFetchError("only https URLs are fetched") }
        if let refusal = await addresses.refusal(for: url) { throw JWKSFetchError(refusal) }
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json, application/jwk-set+json")
            return try await exchange("JWKS", request) { response in
                guard response.status == .ok else { throw JWKSFetchError("\(url) answered \(response.status.code)") }
                let body = try await response.body.collect(upTo: maximumBody)
                return Array(body.readableBytesView)
            }
        } catch let error as JWKSFetchError {
            throw error
        } catch {
            throw JWKSFetchError("\(url): \(error)")
        }
    }

    public func post(_ url: String, body: [UInt8], contentType: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(bytes: body))
        return try await statusExchange("OCSP", request, url: url, maximumSize: maximumSize)
    }

    public func get(_ url: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8] {
        try await statusExchange("CRL", HTTPClientRequest(url: url), url: url, maximumSize: maximumSize)
    }

    private func statusExchange(_ purpose: String, _ request: HTTPClientRequest, url: String, maximumSize: Int) async throws(StatusSourceFailure)
        -> [UInt8]
    {
        do {
            return try await exchange(purpose, request, pathIsPublic: true) { response in
                guard response.status == .ok else { throw StatusSourceFailure("\(url) answered \(response.status.code)") }
                return Array(try await response.body.collect(upTo: maximumSize).readableBytesView)
            }
        } catch let error as StatusSourceFailure {
            throw error
        } catch {
            throw StatusSourceFailure("\(error)")
        }
    }

    /// What came of a notification: the endpoint's HTTP status, or why nothing came back.
    public enum NotificationOutcome: Sendable, CustomStringConvertible {
        case answered(status: Int)
        case failed(reason: String)

        public var status: Int? { if case .answered(let status) = self { status } else { nil } }

        public var description: String {
            switch self {
            case .answered(let status): "HTTP \(status)"
            case .failed(let reason): reason
            }
        }
    }

    /// POSTs a JSON notification with a bearer token (CIBA Core §10.2); redirects are not followed. `purpose`
    /// names its trace span (`CIBA ping`, `CIBA push`).
    public func notify(_ url: String, bearer: String, body: String, purpose: String = "CIBA notification") async -> NotificationOutcome {
        guard url.hasPrefix("https://") else { return .failed(reason: "not an https URL") }
        if let refusal = await addresses.refusal(for: url) {
            return .failed(reason: "refused by the outbound address policy: \(refusal)")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        request.body = .bytes(ByteBuffer(string: body))
        do {
            return try await exchange(purpose, request) { response in
                _ = try? await response.body.collect(upTo: 64 * 1024)
                return .answered(status: Int(response.status.code))
            }
        } catch {
            return .failed(reason: Self.describe(error))
        }
    }

    /// One exchange, and reading its answer, inside a client span when tracing is on (`Traced`): named by
    /// `purpose` and method, with the URL without its query, the status, and the trace context injected into
    /// the request (W3C `traceparent`). No header or body is recorded: a notification carries a bearer token
    /// and an `auth_req_id` or tokens.
    /// `pathIsPublic`: the URL came from a CA (OCSP, CRL) and its path may be recorded; a TPP's URL (`jwks_uri`, CIBA
    /// notification endpoint) is recorded as its origin only, since a webhook's path may carry a capability.
    func exchange<T: Sendable>(
        _ purpose: String, _ request: HTTPClientRequest, pathIsPublic: Bool = false, read: (HTTPClientResponse) async throws -> T
    ) async throws -> T {
        try await Traced.span("\(purpose) \(request.method.rawValue)", kind: .client) { span in
            var request = request
            if let span {
                span.attributes["http.request.method"] = request.method.rawValue
                span.attributes["url.full"] = pathIsPublic ? Traced.safeURL(request.url) : Traced.origin(request.url)
                InstrumentationSystem.instrument.inject(span.context, into: &request.headers, using: HTTPHeadersInjector())
            }
            let response = try await client.execute(request, timeout: timeout)
            span?.attributes["http.response.status_code"] = Int(response.status.code)
            return try await read(response)
        }
    }

    /// A transport failure in words for the log: timeout, connection, or TLS with OpenSSL's reason.
    static func describe(_ error: any Error) -> String {
        if let client = error as? HTTPClientError {
            switch client {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return "timed out"
            default: return "HTTP client error: \(client)"
            }
        }
        if let tls = error as? NIOSSLError { return "TLS failure: \(tls)" }
        if let tls = error as? BoringSSLError { return "TLS failure: \(tls)" }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("connect") { return "connection failed: \(text)" }
        return "failed: \(text)"
    }

    /// Closes the connections; for one-shot use outside a service group (`fapictl`).
    public func shutdown() async {
        try? await client.shutdown()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

/// Writes the propagator's trace context headers into an outgoing request.
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: key, value: value)
    }
}
