public import Foundation

/// Runs a command for tests (openssl, python) and returns its output; a non-zero exit throws with stderr.
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public let command: [String]
        public let status: Int32
        public let stderr: String
        public var description: String { "\(command.joined(separator: " ")) exited \(status): \(stderr)" }
    }

    @discardableResult
    public static func run(_ arguments: [String], input: String? = nil, directory: URL? = nil, environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes before waiting, so a chatty child never blocks on a full pipe.
        let errorData = LockedData()
        let errorReader = Thread { errorData.set(stderr.fileHandleForReading.readDataToEndOfFile()) }
        errorReader.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorData.isSet { usleep(1000) }
        guard process.terminationStatus == 0 else {
            throw Failure(command: arguments, status: process.terminationStatus, stderr: String(decoding: errorData.value, as: UTF8.self))
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The Python with joserfc and cryptography: `FAPID_TEST_PYTHON`, else the repository's `.venv`, else `python3`.
    public static var python: String {
        if let configured = ProcessInfo.processInfo.environment["FAPID_TEST_PYTHON"], !configured.isEmpty { return configured }
        let venv = repositoryRoot.appendingPathComponent(".venv/bin/python3").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }

    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ value: Data) { lock.withLock { data = value } }
    var isSet: Bool { lock.withLock { data != nil } }
    var value: Data { lock.withLock { data ?? Data() } }
}
