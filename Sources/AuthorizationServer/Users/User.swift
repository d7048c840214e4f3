public import Foundation

/// A bank customer (PSU) who can log in and consent, or be named in a CIBA request.
public struct User: Sendable, Equatable {
    public let username: String
    /// `PasswordHash` encoding; never logged.
    public let passwordHash: String
    public let createdAt: Date

    public init(username: String, passwordHash: String, createdAt: Date) {
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }

    /// Usernames: 1 to 64 characters of letters, digits and `._@-`, so they are safe in logs and pages.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "._@-".unicodeScalars.contains($0) }
    }
}

public protocol UserStore: Sendable {
    /// Fails with `conflict` when the username exists.
    func insertUser(_ user: User) async throws(StorageError)
    func user(named: String) async throws(StorageError) -> User?
    func users() async throws(StorageError) -> [User]
}
