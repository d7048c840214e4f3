public import AuthorizationServer
public import Foundation
import GRDB

/// `SignInAttemptStore` over `sign_in_attempts`: each count is one upsert, and writes are serialized.
public struct SQLiteSignInAttemptStore: SignInAttemptStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func countSignInAttempt(keys: [[UInt8]], now: Date, window: TimeInterval) async throws(StorageError) -> [SignInAttemptCount] {
        let current = StoredTime.seconds(now)
        let ends = StoredTime.seconds(now.addingTimeInterval(window))
        return try await database.write { db in
            try keys.map { key in
                // SET expressions read the row as it was: both see the old window.
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        INSERT INTO sign_in_attempts (key_hash, failures, window_ends) VALUES (?, 1, ?)
                        ON CONFLICT (key_hash) DO UPDATE SET
                            failures = CASE WHEN window_ends <= ? THEN 1 ELSE failures + 1 END,
                            window_ends = CASE WHEN window_ends <= ? THEN excluded.window_ends ELSE window_ends END
                        RETURNING failures, window_ends
                        """,
                    arguments: [Data(key), ends, current, current])
                guard let row else { throw StorageError(.unavailable, "sign-in counter not returned") }
                return SignInAttemptCount(failures: row[0], windowEnds: StoredTime.date(row[1]))
            }
        }
    }

    public func forgiveSignInAttempt(keys: [[UInt8]], now: Date) async throws(StorageError) {
        let current = StoredTime.seconds(now)
        try await database.write { db in
            for key in keys {
                try db.execute(
                    sql: "UPDATE sign_in_attempts SET failures = MAX(failures - 1, 0) WHERE key_hash = ? AND window_ends > ?",
                    arguments: [Data(key), current])
            }
        }
    }

    public func sweepSignInAttempts(now: Date) async throws(StorageError) -> Int {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM sign_in_attempts WHERE window_ends <= ?", arguments: [StoredTime.seconds(now)])
            return db.changesCount
        }
    }
}
