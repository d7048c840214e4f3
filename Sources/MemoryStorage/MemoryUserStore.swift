public import AuthorizationServer

/// `UserStore` in memory.
public struct MemoryUserStore: UserStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertUser(_ user: User) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.users[user.username] == nil else { throw StorageError(.conflict, "user \(user.username) exists") }
            state.users[user.username] = user
        }
    }

    public func user(named name: String) async throws(StorageError) -> User? {
        try database.read { $0.users[name] }
    }

    public func users() async throws(StorageError) -> [User] {
        try database.read { state in state.users.values.sorted { $0.username < $1.username } }
    }
}
