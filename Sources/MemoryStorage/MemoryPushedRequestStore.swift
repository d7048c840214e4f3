public import AuthorizationServer
public import Foundation

/// `PushedRequestStore` in memory; single use is one locked check-and-mark.
public struct MemoryPushedRequestStore: PushedRequestStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertPushedRequest(_ pushed: PushedRequest) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.pushed[pushed.uriHash] == nil else { throw StorageError(.conflict, "request_uri exists") }
            state.pushed[pushed.uriHash] = MemoryState.PushedRow(pushed: pushed)
        }
    }

    public func pushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> PushedRequest? {
        try database.read { state in
            guard let row = state.pushed[uriHash], Self.usable(row, clientID: clientID, now: now) else { return nil }
            return row.pushed
        }
    }

    public func consumePushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> Bool {
        try database.write { state in
            guard let row = state.pushed[uriHash], Self.usable(row, clientID: clientID, now: now) else { return false }
            state.pushed[uriHash]?.usedAt = now
            return true
        }
    }

    static func usable(_ row: MemoryState.PushedRow, clientID: String, now: Date) -> Bool {
        row.pushed.clientID == clientID && row.usedAt == nil && row.pushed.expiresAt.storedSeconds > now.storedSeconds
    }
}
