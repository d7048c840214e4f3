import AuthorizationServer
import Foundation
import JOSE
public import Logging
import Synchronization

/// Log output: text (swift-log's stream handler, over `EscapingLogStream`) or JSON lines, both on stderr. Every line written while
/// a request is served carries its `interaction_id`, wherever in the code the line comes from.
public enum FapidLogging {
    /// The interaction id (and peer address) of the request being served, from the task-local context.
    public static let requestMetadata = Logger.MetadataProvider {
        guard let context = AuditContext.current else { return [:] }
        return ["interaction_id": .string(context.interactionID)]
    }

    /// Call once, first thing.
    public static func bootstrap(format: LogFormat) {
        if format == .json {
            LoggingSystem.bootstrap({ label, provider in JSONLogHandler(label: label, metadataProvider: provider) }, metadataProvider: requestMetadata)
        } else {
            LoggingSystem.bootstrap(
                { label, provider in StreamLogHandler(label: label, stream: EscapingLogStream.standardError, metadataProvider: provider) },
                metadataProvider: requestMetadata)
        }
    }
}

/// One JSON object per line: `time`, `level`, `logger`, `message`, then the metadata (flattened to strings).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let label: String

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
        EscapingLogStream.writeToStandardError(Array((JSON.object(object).serialized() + "\n").utf8))
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

/// The text log's output: each line swift-log's `StreamLogHandler` formats is written with every control
/// character inside it made visible (`\n`, `\u{1B}`), so a value such as a `client_id` holding a newline
/// cannot start a forged line (CWE-117); only the line's own final newline is kept.
public struct EscapingLogStream: TextOutputStream, Sendable {
    let sink: @Sendable (String) -> Void
    static let output = Mutex(())

    public init(sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    public static let standardError = EscapingLogStream { text in writeToStandardError(Array(text.utf8)) }

    public mutating func write(_ string: String) {
        // By scalars: a message ending in "\r" makes "\r\n" one Character.
        if string.unicodeScalars.last == "\n" {
            sink(Self.escaped(String(String.UnicodeScalarView(string.unicodeScalars.dropLast()))) + "\n")
        } else {
            sink(Self.escaped(string))
        }
    }

    /// C0 and C1 controls, DEL, the Unicode line and paragraph separators and the bidirectional controls,
    /// shown as escapes; everything else as it is.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default: result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return result
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        DisplayText.isUnsafe(scalar)
    }

    /// Whole lines to stderr: one `write(2)` loop under one lock (for the JSON and the text log alike), so
    /// lines of concurrent tasks never interleave.
    static func writeToStandardError(_ bytes: [UInt8]) {
        output.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }
}
