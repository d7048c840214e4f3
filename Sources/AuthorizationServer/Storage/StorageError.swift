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
