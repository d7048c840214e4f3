import AuthorizationServer
import Foundation
import JOSE
public import Logging
import Synchronization

/// Log output: text (swift-log's stream handler) or JSON lines, both on stderr. Every line written while
/// a request is served carries its `interaction_id`, wherever in the code the line comes from.
public enum FapidLogging {
    /// The interaction id (and peer address) of the request being served, from the task-local context.
    public static let requestMetadata = Logger.MetadataProvider {
        guard let context = AuditContext.current else { return [:] }
        return ["interaction_id": .string(context.interactionID)]
    }

    /// Call once, first thing.
    public static func bootstrap(format: String) {
        if format == "json" {
            LoggingSystem.bootstrap({ label, provider in JSONLogHandler(label: label, metadataProvider: provider) }, metadataProvider: requestMetadata)
        } else {
            LoggingSystem.bootstrap({ label, provider in StreamLogHandler.standardError(label: label, metadataProvider: provider) }, metadataProvider: requestMetadata)
        }
    }
}

/// One JSON object per line: `time`, `level`, `logger`, `message`, then the metadata (flattened to strings).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let label: String
    static let output = Mutex(())

    public init(label: String, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var object: [String: JSON] = [
            "time": .string(AuditChain.timestamp(Date())), "level": .string(event.level.rawValue), "logger": .string(label),
            "message": .string("\(event.message)"),
        ]
        for (key, value) in merged where object[key] == nil { object[key] = Self.json(value) }
        let line = Array((JSON.object(object).serialized() + "\n").utf8)
        Self.output.withLock { _ in
            line.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSON {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let entries): .object(entries.mapValues(json))
        }
    }
}
