import ServiceLifecycle

/// Runs `body` every `interval` until graceful shutdown, which also cuts the wait short.
/// The loop of every background service (key refresh, expiry sweep, certificate-status refresh).
func runPeriodically(every interval: Duration, _ body: () async -> Void) async {
    while !Task.isShuttingDownGracefully {
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        } catch {
            return
        }
        await body()
    }
}
