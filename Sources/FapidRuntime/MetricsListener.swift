import Hummingbird
public import Logging
public import ServiceLifecycle

/// `/metrics` on a listener of its own (plain HTTP, loopback unless allowed by the configuration),
/// for a Prometheus server that should not reach the TLS port.
public enum MetricsListener {
    public static func make(host: String, port: Int, metrics: PrometheusMetrics, logger: Logger) throws -> some Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            let body = await metrics.render()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil), logger: logger)
    }
}
