public import Foundation
import OpenSSLKit

/// The hash chain of the audit log. Row `n` stores `hash(n) = SHA-256(v1 ‖ fields of row n ‖ hash(n-1))`,
/// so editing, removing or reordering any row breaks every hash after it.
///
/// The hashed text (version 1) is `fapid-audit-v1\n`, then for each field in the order of `fields`
/// either `-\n` (absent) or `<UTF-8 byte count>:<value>\n`, then the previous row's hash in lowercase hex
/// (64 zeros before the first row). Length prefixes make the encoding unambiguous whatever a value holds.
public enum AuditChain {
    public static let genesis = String(repeating: "0", count: 64)
    /// Field names in hashing order; also the keys of the exported JSON lines.
    public static let fields = [
        "seq", "time", "type", "client_id", "org_id", "user", "x5t#S256", "interaction_id", "source", "outcome", "reason",
    ]

    /// A stored row: the event's fields as text (the form in which they are hashed), and its links.
    public struct Row: Sendable, Equatable {
        public var seq: Int64
        public var values: [String: String]
        public var previousHash: String
        public var hash: String

        public init(seq: Int64, values: [String: String], previousHash: String, hash: String) {
            self.seq = seq
            self.values = values
            self.previousHash = previousHash
            self.hash = hash
        }

        /// The hash this row's content and link call for.
        public var expectedHash: String { AuditChain.hash(seq: seq, values: values, previousHash: previousHash) }
    }

    /// The text values of an event, keyed as in `fields` (without `seq`).
    public static func values(of event: AuditEvent) -> [String: String] {
        var values: [String: String] = [
            "time": timestamp(event.time), "type": event.kind.rawValue, "outcome": event.outcome.rawValue,
        ]
        values["client_id"] = event.clientID
        values["org_id"] = event.orgID
        values["user"] = event.user
        values["x5t#S256"] = event.certificateThumbprint
        values["interaction_id"] = event.interactionID
        values["source"] = event.source
        values["reason"] = event.reason
        return values
    }

    public static func hash(seq: Int64, values: [String: String], previousHash: String) -> String {
        Crypto.hex(Crypto.sha256(hashedText(PlainText(), seq: String(seq), fields: encodedFields(values), previousHash: previousHash)))
    }

    /// The hashed text, put together in any representation of text: Swift strings here, a SQL expression
    /// where PostgreSQL hashes at the chain's head (`PostgresAuditLog.hashExpression`). This and `encoded`
    /// are the one definition of the encoding.
    public static func hashedText<Builder: AuditTextBuilder>(
        _ builder: Builder, seq: Builder.Text, fields: Builder.Text, previousHash: Builder.Text
    ) -> Builder.Text {
        builder.concatenation([builder.literal(header), encoded(builder, seq), fields, previousHash])
    }

    /// One present field: `<UTF-8 byte count>:<value>\n`.
    public static func encoded<Builder: AuditTextBuilder>(_ builder: Builder, _ value: Builder.Text) -> Builder.Text {
        builder.concatenation([builder.byteCount(value), builder.literal(":"), value, builder.literal("\n")])
    }

    /// Swift strings.
    struct PlainText: AuditTextBuilder {
        func literal(_ text: String) -> String { text }
        func byteCount(_ text: String) -> String { String(text.utf8.count) }
        func concatenation(_ parts: [String]) -> String { parts.joined() }
    }

    /// The hashed text's first line.
    public static let header = "fapid-audit-v1\n"

    /// The hashed text of every field after `seq`: what a store computing the hash where the chain's head is
    /// (PostgreSQL, in the statement that locks it) puts between the `seq` line and the previous hash.
    public static func encodedFields(_ values: [String: String]) -> String {
        var text = ""
        for field in fields.dropFirst() {
            if let value = values[field] {
                text += encoded(PlainText(), value)
            } else {
                text += "-\n"
            }
        }
        return text
    }

    /// RFC 3339 UTC with milliseconds: `2026-11-26T09:49:35.123Z`.
    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1000), 3))Z"
    }

    /// Walks rows in `seq` order (and the recorded head) and returns the first problem, if any.
    public static func verify(rows: some Sequence<Row>, head: (seq: Int64, hash: String)?) -> AuditChainProblem? {
        var verifier = Verifier()
        for row in rows {
            if let problem = verifier.feed(row) { return problem }
        }
        return verifier.finish(head: head)
    }

    /// Checks rows one at a time, so a large table is walked in pages.
    public struct Verifier: Sendable {
        public private(set) var lastSeq: Int64 = 0
        public private(set) var lastHash = AuditChain.genesis

        public init() {}

        public mutating func feed(_ row: Row) -> AuditChainProblem? {
            let expectedSeq = lastSeq + 1
            if row.seq != expectedSeq {
                return row.seq > expectedSeq
                    ? AuditChainProblem(seq: expectedSeq, reason: "row \(expectedSeq) is missing (the next row is \(row.seq))")
                    : AuditChainProblem(seq: row.seq, reason: "row \(row.seq) is out of order")
            }
            if row.previousHash != lastHash {
                return AuditChainProblem(seq: row.seq, reason: "row \(row.seq) does not link to row \(row.seq - 1) (previous hash differs)")
            }
            if row.expectedHash != row.hash {
                return AuditChainProblem(seq: row.seq, reason: "row \(row.seq) has been changed (its hash does not match its content)")
            }
            lastSeq = row.seq
            lastHash = row.hash
            return nil
        }

        /// Compares the end of the chain with the recorded head.
        public func finish(head: (seq: Int64, hash: String)?) -> AuditChainProblem? {
            guard let head else {
                return lastSeq > 0 ? AuditChainProblem(seq: lastSeq, reason: "the chain head record is missing") : nil
            }
            if head.seq > lastSeq {
                return AuditChainProblem(seq: lastSeq + 1, reason: "row \(lastSeq + 1) is missing (the head records \(head.seq) rows)")
            }
            if head.seq != lastSeq || head.hash != lastHash {
                return AuditChainProblem(seq: lastSeq, reason: "row \(lastSeq) does not match the recorded head")
            }
            return nil
        }
    }
}

/// Text operations the chain's encoding is written in (`AuditChain.hashedText`).
public protocol AuditTextBuilder {
    associatedtype Text
    /// A constant.
    func literal(_ text: String) -> Text
    /// The decimal count of the UTF-8 bytes of `text`.
    func byteCount(_ text: Text) -> Text
    func concatenation(_ parts: [Text]) -> Text
}

public struct AuditChainProblem: Sendable, Equatable, CustomStringConvertible {
    public let seq: Int64
    public let reason: String
    public var description: String { reason }

    public init(seq: Int64, reason: String) {
        self.seq = seq
        self.reason = reason
    }
}
