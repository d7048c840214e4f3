public import AuthorizationServer
import Foundation
import PostgresNIO

/// `UserStore` over the `users` table on PostgreSQL.
public struct PostgresUserStore: UserStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func insertUser(_ user: User) async throws(StorageError) {
        _ = try await database.rows(
            "INSERT INTO users (username, password_hash, created_at) VALUES (\(user.username), \(user.passwordHash), \(StoredTime.seconds(user.createdAt)))")
    }

    public func user(named name: String) async throws(StorageError) -> User? {
        try await database.map("SELECT password_hash, created_at FROM users WHERE username = \(name)") { row in
            User(username: name, passwordHash: try row.value(0), createdAt: try row.date(1))
        }.first
    }

    public func users() async throws(StorageError) -> [User] {
        try await database.map("SELECT username, password_hash, created_at FROM users ORDER BY username") { row in
            User(username: try row.value(0), passwordHash: try row.value(1), createdAt: try row.date(2))
        }
    }
}
