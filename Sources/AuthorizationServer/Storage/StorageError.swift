public import Foundation

/// A failure of a storage backend. It never reaches HTTP: the core turns it into `server_error`.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The backend could not be reached or answered with an error.
        case unavailable
        /// A uniqueness or consistency rule was violated (duplicate key, missing row).
        case conflict
        case notFound
        /// The schema is older or newer than this build expects, or a migration failed.
        case migration
    }

    public let code: Code
    /// For the log only.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "storage \(code.rawValue): \(detail)" }
}

/// Times as both backends store them: whole seconds since 1970, clamped to `Int64`.
public enum StoredTime {
    public static func seconds(_ date: Date) -> Int64 {
        let value = date.timeIntervalSince1970.rounded(.down)
        guard value.isFinite else { return value > 0 ? .max : .min }
        if value >= 9.0e18 { return .max }
        if value <= -9.0e18 { return .min }
        return Int64(value)
    }

    public static func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }
}
