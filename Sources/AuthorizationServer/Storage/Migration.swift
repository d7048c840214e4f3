public import Foundation
import OpenSSLKit

/// One numbered SQL file of `migrations/<backend>/`, as both backends' migrators read it.
public struct Migration: Sendable, Equatable {
    public let version: String
    public let sql: String

    public init(version: String, sql: String) {
        self.version = version
        self.sql = sql
    }

    /// Recorded with the version when applied: an applied file edited afterwards is refused.
    public var checksum: String { Base64URL.encode(Crypto.sha256(sql)) }

    /// Reads the `NNNN_name.sql` files of `directory`, sorted by name; none, or a misnamed one, is an error.
    public static func files(in directory: URL) throws(StorageError) -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw StorageError(.migration, "cannot read migrations directory \(directory.path)")
        }
        var migrations: [Migration] = []
        for name in names.sorted() where name.hasSuffix(".sql") {
            guard name.range(of: #"^[0-9]{4}_[a-z0-9_]+\.sql$"#, options: .regularExpression) != nil else {
                throw StorageError(.migration, "migration file \(name) is not named NNNN_name.sql")
            }
            guard let sql = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
                throw StorageError(.migration, "cannot read \(name)")
            }
            migrations.append(Migration(version: String(name.dropLast(4)), sql: sql))
        }
        guard !migrations.isEmpty else { throw StorageError(.migration, "no migrations in \(directory.path)") }
        return migrations
    }
}
