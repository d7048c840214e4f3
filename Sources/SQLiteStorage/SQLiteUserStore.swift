public import AuthorizationServer
import Foundation
import GRDB

/// `UserStore` over the `users` table.
public struct SQLiteUserStore: UserStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func insertUser(_ user: User) async throws(StorageError) {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
                arguments: [user.username, user.passwordHash, Int64(user.createdAt.timeIntervalSince1970)])
        }
    }

    public func user(named name: String) async throws(StorageError) -> User? {
        try await database.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT password_hash, created_at FROM users WHERE username = ?"), arguments: [name]).map {
                User(username: name, passwordHash: $0[0], createdAt: Date(timeIntervalSince1970: TimeInterval($0[1] as Int64)))
            }
        }
    }

    public func users() async throws(StorageError) -> [User] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT username, password_hash, created_at FROM users ORDER BY username").map {
                User(username: $0[0], passwordHash: $0[1], createdAt: Date(timeIntervalSince1970: TimeInterval($0[2] as Int64)))
            }
        }
    }
}
