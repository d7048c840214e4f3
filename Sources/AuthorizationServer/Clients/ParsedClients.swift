import Foundation
import JOSE
import Synchronization

extension Client {
    /// A client as a store reads it back: its metadata text parsed and validated again.
    public init(storedID id: String, metadata: String, createdAt: Int64) throws(StorageError) {
        do {
            let object = try JSON.parseObject(Array(metadata.utf8))
            try self.init(clientID: id, metadata: object, createdAt: StoredTime.date(createdAt), checkDisplayText: false)
        } catch {
            throw StorageError(.conflict, "stored metadata of client \(id) no longer validates: \(error)")
        }
    }
}

/// Parsed clients by id, reused while the stored metadata text is unchanged: a store still reads the row on
/// every request (so updates and removals by any instance count at once), but keys are not re-parsed.
public final class ParsedClients: Sendable {
    private let entries = Mutex<[String: (metadata: String, client: Client)]>([:])
    static let limit = 10_000

    public init() {}

    public func get(_ id: String, metadata: String) -> Client? {
        entries.withLock { $0[id] }.flatMap { $0.metadata == metadata ? $0.client : nil }
    }

    public func set(_ id: String, metadata: String, client: Client) {
        entries.withLock { all in
            if all.count >= Self.limit { all.removeAll(keepingCapacity: true) }
            all[id] = (metadata, client)
        }
    }
}
