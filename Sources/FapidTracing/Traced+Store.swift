import Tracing

extension Traced {
    /// A span per store operation, named by the store and its method (`SQLiteCodeStore.consume`): the call site's
    /// `#fileID` and `#function`, never its statement or bound values.
    public static func store<T, E: Error>(
        system: StaticString, file: StaticString, function: StaticString, isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws(E) -> T
    ) async throws(E) -> T {
        guard TracingSwitch.isOn, insideSpan else { return try await body() }
        let operation = operationName(function)
        return try await span("\(storeName(file)).\(operation)", kind: .client, isolation: isolation) { (span) async throws(E) -> T in
            span?.attributes["db.system.name"] = "\(system)"
            span?.attributes["db.operation.name"] = operation
            return try await body()
        }
    }

    /// `SQLiteStorage/SQLiteCodeStore.swift` → `SQLiteCodeStore`.
    static func storeName(_ file: StaticString) -> String {
        let path = "\(file)"
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.hasSuffix(".swift") ? String(base.dropLast(6)) : base
    }

    /// `consume(codeHash:now:)` → `consume`.
    static func operationName(_ function: StaticString) -> String {
        let text = "\(function)"
        return text.firstIndex(of: "(").map { String(text[..<$0]) } ?? text
    }
}
