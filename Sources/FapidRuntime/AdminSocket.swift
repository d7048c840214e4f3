public import AuthorizationServer
import Foundation
import JOSE
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle

/// The daemon's admin Unix socket (mode 0600; no network listener) for `fapictl`'s live operations.
/// One JSON object per line each way: `{"op":"ciba.list"}`, `{"op":"ciba.decide","id":…,"approve":true,"by":…}`.
public struct AdminSocket: Service {
    let path: String
    let ciba: any CIBAStore
    let clients: any ClientStore
    let clock: any Clock
    let logger: Logger

    public init(path: String, ciba: any CIBAStore, clients: any ClientStore, clock: any Clock, logger: Logger) {
        self.path = path
        self.ciba = ciba
        self.clients = clients
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        // Created with no permissions for group or others from the first moment.
        let previous = umask(0o077)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        umask(previous)
        chmod(path, 0o600)
        defer { unlink(path) }
        logger.info("admin socket listening", metadata: ["path": "\(path)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { try? await self.serve(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: not a failure.
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var pending: [UInt8] = []
            for try await chunk in inbound {
                pending += chunk.readableBytesView
                guard pending.count <= 64 * 1024 else { return }
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(pending[..<newline])
                    pending.removeSubrange(...newline)
                    let answer = await handle(line)
                    try await outbound.write(ByteBuffer(bytes: answer.bytes + [UInt8(ascii: "\n")]))
                }
            }
        }
    }

    func handle(_ line: [UInt8]) async -> JSON {
        guard let request = try? JSON.parseObject(line), let op = request["op"]?.stringValue else {
            return ["ok": false, "error": "not a JSON request"]
        }
        do {
            switch op {
            case "ciba.list":
                var rows: [JSON] = []
                for pending in try await ciba.pendingCIBARequests(now: clock.now()) {
                    let client = try? await clients.client(id: pending.clientID)
                    rows.append([
                        "id": .string(pending.id), "client_id": .string(pending.clientID),
                        "client_name": (client?.name).map { .string($0) } ?? .null,
                        "org": (client?.metadata["org_name"] ?? client?.metadata["org_id"]) ?? .null,
                        "user": .string(pending.username), "scope": .string(pending.scope),
                        "binding_message": pending.bindingMessage.map { .string($0) } ?? .null,
                        "expires_at": .int(Int64(pending.expiresAt.timeIntervalSince1970)),
                    ])
                }
                return ["ok": true, "requests": .array(rows)]
            case "ciba.decide":
                guard let id = request["id"]?.stringValue, let approve = request["approve"]?.boolValue, let by = request["by"]?.stringValue else {
                    return ["ok": false, "error": "ciba.decide needs id, approve and by"]
                }
                let recorded = try await ciba.decideCIBARequest(id: id, approve: approve, by: by, now: clock.now())
                if recorded {
                    ServerMetrics.cibaDecisions.increment(approve ? "approved" : "denied")
                    logger.notice("CIBA decision", metadata: ["request": "\(id)", "approved": "\(approve)", "by": "\(by)"])
                }
                return recorded ? ["ok": true] : ["ok": false, "error": .string("no pending request \(id)")]
            default:
                return ["ok": false, "error": .string("unknown op \(op)")]
            }
        } catch {
            logger.error("admin request failed", metadata: ["op": "\(op)", "reason": "\(error)"])
            return ["ok": false, "error": "the request failed"]
        }
    }
}
