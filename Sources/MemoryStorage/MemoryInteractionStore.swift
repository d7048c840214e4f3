public import AuthorizationServer
public import Foundation

/// `InteractionStore` in memory; the per-`request_uri` bound is counted and inserted under one lock.
public struct MemoryInteractionStore: InteractionStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertInteraction(_ interaction: PSUInteraction, livePerRequestURI: Int) async throws(StorageError) -> Bool {
        try database.write { (state: inout MemoryState) throws(StorageError) -> Bool in
            if let uri = interaction.requestURIHash, livePerRequestURI < .max {
                let created = interaction.createdAt.storedSeconds
                let live = state.interactions.values.count { $0.requestURIHash == uri && $0.expiresAt.storedSeconds > created }
                if live >= livePerRequestURI { return false }
            }
            guard state.interactions[interaction.idHash] == nil else { throw StorageError(.conflict, "interaction exists") }
            state.interactions[interaction.idHash] = interaction
            return true
        }
    }

    public func interaction(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction? {
        try database.read { state in state.interactions[idHash].flatMap { Self.fresh($0, now) ? $0 : nil } }
    }

    public func signInInteraction(idHash: [UInt8], username: String, authTime: Date, now: Date) async throws(StorageError) -> Bool {
        try database.write { state in
            guard let interaction = state.interactions[idHash], Self.fresh(interaction, now) else { return false }
            state.interactions[idHash]?.username = username
            state.interactions[idHash]?.authTime = authTime
            return true
        }
    }

    public func takeInteraction(idHash: [UInt8], csrfHash: [UInt8], now: Date) async throws(StorageError) -> PSUInteraction? {
        try database.write { state in
            guard let interaction = state.interactions[idHash], interaction.csrfHash == csrfHash, Self.fresh(interaction, now) else { return nil }
            state.interactions[idHash] = nil
            return interaction
        }
    }

    public func insertSession(_ session: PSUSession) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.sessions[session.idHash] == nil else { throw StorageError(.conflict, "session exists") }
            state.sessions[session.idHash] = session
        }
    }

    public func session(idHash: [UInt8], now: Date) async throws(StorageError) -> PSUSession? {
        try database.read { state in state.sessions[idHash].flatMap { $0.expiresAt.storedSeconds > now.storedSeconds ? $0 : nil } }
    }

    public func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int {
        try database.write { $0.deleteExpired(cutoffs) }
    }

    static func fresh(_ interaction: PSUInteraction, _ now: Date) -> Bool { interaction.expiresAt.storedSeconds > now.storedSeconds }
}
