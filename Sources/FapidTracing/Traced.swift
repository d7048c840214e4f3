public import Tracing

/// The one way fapid makes a span: only when `TracingSwitch` is on, with the attributes the caller names, and
/// never with an error's text (an error may quote a URL, a store's detail or a client's input): a failure is the
/// span's `error` status and the error's type name only.
public enum Traced {
    /// True inside a request's span or one made by `span`: store operations are spans only there, so that the
    /// background loops (the CIBA notifier's idle rounds, sweeps, key refreshes) do not make a root trace each.
    @TaskLocal public static var insideSpan = false

    /// Runs `body` inside a span named `name` (made only when tracing is on; `body` gets nil otherwise), the span
    /// being the current context for everything `body` calls, so their spans are its children.
    public static func span<T, E: Error>(
        _ name: @autoclosure () -> String, kind: SpanKind = .internal, isolation: isolated (any Actor)? = #isolation,
        _ body: ((any Span)?) async throws(E) -> T
    ) async throws(E) -> T {
        guard TracingSwitch.isOn else { return try await body(nil) }
        let span = startSpan(name(), ofKind: kind)
        defer { span.end() }
        let result = await InstrumentationContext.$current.withValue(span.context, operation: { () async -> Result<T, E> in
            await $insideSpan.withValue(true, operation: { () async -> Result<T, E> in
                do throws(E) {
                    return .success(try await body(span))
                } catch {
                    return .failure(error)
                }
            }, isolation: isolation)
        }, isolation: isolation)
        if case .failure(let error) = result { failed(span, error) }
        return try result.get()
    }

    /// Marks `span` failed: its status and the error's type, never the error's description.
    public static func failed(_ span: any Span, _ error: some Error) {
        span.setStatus(SpanStatus(code: .error))
        span.attributes["error.type"] = String(describing: type(of: error))
    }

    /// `url` as its origin only, `scheme://host[:port]` (RFC 6454), for URLs a TPP chose.
    public static func origin(_ url: String) -> String {
        let safe = safeURL(url)
        guard let colon = safe.firstIndex(of: ":"), safe[colon...].hasPrefix("://") else { return "" }
        let authorityStart = safe.index(colon, offsetBy: 3)
        let authorityEnd = safe[authorityStart...].firstIndex(of: "/") ?? safe.endIndex
        return String(safe[..<authorityEnd])
    }

    /// `url` for an attribute: scheme, host, port and path only (no query, fragment or user info, which may carry
    /// credentials or request parameters).
    public static func safeURL(_ url: String) -> String {
        var text = Substring(url)
        if let cut = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<cut] }
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else { return String(text) }
        let authorityStart = text.index(colon, offsetBy: 3)
        let authorityEnd = text[authorityStart...].firstIndex(of: "/") ?? text.endIndex
        guard let at = text[authorityStart..<authorityEnd].lastIndex(of: "@") else { return String(text) }
        return String(text[..<authorityStart]) + String(text[text.index(after: at)...])
    }
}
