public import AuthorizationServer
public import Foundation
import NIOCore
import PostgresNIO

/// `SignInAttemptStore` on PostgreSQL, shared by every instance. Each count is one upsert (the row lock
/// orders concurrent ones), taken in key order so two attempts over the same keys cannot deadlock.
public struct PostgresSignInAttemptStore: SignInAttemptStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func countSignInAttempt(keys: [[UInt8]], now: Date, window: TimeInterval) async throws(StorageError) -> [SignInAttemptCount] {
        let current = StoredTime.seconds(now)
        let ends = StoredTime.seconds(now.addingTimeInterval(window))
        let order = keys.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
        return try await database.transaction { tx in
            var counts = [SignInAttemptCount](repeating: SignInAttemptCount(failures: 0, windowEnds: now), count: keys.count)
            for index in order {
                guard
                    let row = try await tx.rows(
                        """
                        INSERT INTO sign_in_attempts (key_hash, failures, window_ends) VALUES (\(ByteBuffer(bytes: keys[index])), 1, \(ends))
                        ON CONFLICT (key_hash) DO UPDATE SET
                            failures = CASE WHEN sign_in_attempts.window_ends <= \(current) THEN 1 ELSE sign_in_attempts.failures + 1 END,
                            window_ends = CASE WHEN sign_in_attempts.window_ends <= \(current) THEN EXCLUDED.window_ends
                                ELSE sign_in_attempts.window_ends END
                        RETURNING failures, window_ends
                        """
                    ).first
                else { throw StorageError(.unavailable, "sign-in counter not returned") }
                counts[index] = SignInAttemptCount(failures: Int(try row.value(0, as: Int32.self)), windowEnds: try row.date(1))
            }
            return counts
        }
    }

    public func forgiveSignInAttempt(keys: [[UInt8]], now: Date) async throws(StorageError) {
        let current = StoredTime.seconds(now)
        let sorted = keys.sorted { $0.lexicographicallyPrecedes($1) }
        try await database.transaction { tx in
            for key in sorted {
                try await tx.execute(
                    """
                    UPDATE sign_in_attempts SET failures = GREATEST(failures - 1, 0)
                    WHERE key_hash = \(ByteBuffer(bytes: key)) AND window_ends > \(current)
                    """)
            }
        }
    }

    public func sweepSignInAttempts(now: Date) async throws(StorageError) -> Int {
        try await database.rows("DELETE FROM sign_in_attempts WHERE window_ends <= \(StoredTime.seconds(now)) RETURNING 1").count
    }
}
