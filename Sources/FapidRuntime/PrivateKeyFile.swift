import Foundation
public import OpenSSLKit

/// Private key files on disk: written 0600 from the start whatever the umask, and refused when group or others can read them.
public enum PrivateKeyFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and parses a PEM private key after checking that only its owner can read it.
    public static func load(_ path: String) throws -> AsymmetricKey {
        try checkPermissions(path)
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "cannot read key file \(path)") }
        let key: AsymmetricKey
        do {
            key = try AsymmetricKey(pem: String(decoding: data, as: UTF8.self))
        } catch {
            throw Failure(description: "key file \(path): \(error.code.rawValue)")
        }
        guard key.isPrivate else { throw Failure(description: "key file \(path) holds no private key") }
        return key
    }

    /// Refuses files with any group or other permission bit.
    public static func checkPermissions(_ path: String, what: String = "key file") throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Failure(description: "cannot read \(what) \(path)") }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw Failure(description: "\(what) \(path) is readable by group or others (mode \(String(mode, radix: 8))); run: chmod 600 \(path)")
        }
    }

    /// Writes `pem` to a new file created with mode 0600 (never briefly wider), then syncs it.
    public static func write(_ pem: String, to path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "cannot create key file \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        // 0600 whatever the umask: open(2) only ever narrows the mode it is given.
        guard fchmod(descriptor, 0o600) == 0 else {
            unlink(path)
            throw Failure(description: "cannot set the mode of key file \(path)")
        }
        let bytes = Array(pem.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw Failure(description: "cannot write key file \(path)")
        }
    }
}
