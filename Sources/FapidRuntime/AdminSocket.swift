public import AuthorizationServer
import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle

/// The daemon's admin Unix socket (no network listener) for `fapictl`'s live operations: mode 0600, or 0660
/// to `admin_socket_group` so each staff member in that group connects under their own account.
/// One JSON object per line each way, `AdminRequest` in and `AdminResponse` out; the decisions are the core's
/// (`CIBADecisionService`). Who decides is the account of the connecting process, from the kernel
/// (`SO_PEERCRED`), never a name the client sends: a `by` member is ignored.
public struct AdminSocket: Service {
    let path: String
    let groupName: String?
    let ciba: CIBADecisionService
    /// The bank's view of consents (`fapictl consents`); nil answers that it is not served.
    let consents: ConsentAdministration?
    let logger: Logger

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(path: String, group: String? = nil, ciba: CIBADecisionService, consents: ConsentAdministration? = nil, logger: Logger) {
        self.path = path
        self.groupName = group
        self.ciba = ciba
        self.consents = consents
        self.logger = logger
    }

    public func run() async throws {
        // Resolved first: a misspelt group stops start-up before anything listens.
        let groupID = try groupName.map(Self.groupID(named:))
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        // Created with no permissions for group or others from the first moment.
        let previous = umask(0o077)
        let server: NIOAsyncChannel<(PeerCredentials, NIOAsyncChannel<ByteBuffer, ByteBuffer>), Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                    // The peer's credentials as the kernel recorded them at connect(2) (unix(7) SO_PEERCRED).
                    guard let provider = channel as? any SocketOptionProvider else {
                        return channel.eventLoop.makeFailedFuture(Failure(description: "no socket options on the admin connection"))
                    }
                    let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                        level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
                    return credentials.flatMapThrowing { credentials in
                        (credentials, try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel))
                    }
                }
        } catch {
            umask(previous)
            throw error
        }
        umask(previous)
        defer { unlink(path) }
        if let groupID {
            guard chown(path, uid_t.max, groupID) == 0, chmod(path, 0o660) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await server.channel.close()
                throw Failure(description: "cannot give the admin socket \(path) to group \(groupName ?? ""): \(reason)")
            }
        } else {
            chmod(path, 0o600)
        }
        logger.info("admin socket listening", metadata: ["path": "\(path)", "group": "\(groupName ?? "-")"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await (credentials, connection) in connections {
                            let staff = Self.accountName(uid: credentials.uid)
                            group.addTask { try? await self.serve(connection, staff: staff) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: not a failure.
        }
    }

    /// The account name of `uid` (the staff member recorded in decisions), or `uid:N` when it has none.
    static func accountName(uid: uid_t) -> String {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let name = buffer.withUnsafeMutableBufferPointer { storage -> String? in
            guard let base = storage.baseAddress, getpwuid_r(uid, &entry, base, storage.count, &found) == 0, found != nil, let name = entry.pw_name
            else { return nil }
            return String(cString: name)
        }
        return name ?? "uid:\(uid)"
    }

    /// The id of the group `name` (getgrnam_r); a missing group is a configuration error.
    static func groupID(named name: String) throws -> gid_t {
        var entry = Glibc.group()
        var found: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        let id = buffer.withUnsafeMutableBufferPointer { storage -> gid_t? in
            guard let base = storage.baseAddress, getgrnam_r(name, &entry, base, storage.count, &found) == 0, found != nil else { return nil }
            return entry.gr_gid
        }
        guard let id else { throw Failure(description: "admin_socket_group \(name) is not a group on this host") }
        return id
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, staff: String) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var pending: [UInt8] = []
            for try await chunk in inbound {
                pending += chunk.readableBytesView
                guard pending.count <= 64 * 1024 else { return }
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(pending[..<newline])
                    pending.removeSubrange(...newline)
                    let answer = await handle(line, staff: staff)
                    try await outbound.write(ByteBuffer(bytes: answer.line + [UInt8(ascii: "\n")]))
                }
            }
        }
    }

    /// One request line from `staff`, the connecting account.
    func handle(_ line: [UInt8], staff: String) async -> AdminResponse {
        switch AdminRequest.parse(line) {
        case .failure(let refusal): return .failure(refusal.description)
        case .success(let request): return await handle(request, staff: staff)
        }
    }

    func handle(_ request: AdminRequest, staff: String) async -> AdminResponse {
        do throws(StorageError) {
            switch request {
            case .cibaList:
                return .cibaRequests(try await ciba.pending().map(AdminCIBARequest.init))
            case .cibaDecide(let id, let approve):
                // The approver is the peer's account (SO_PEERCRED), whatever `by` the client sent.
                let decision = try await ciba.decide(id: id, approve: approve, by: staff, shownHash: nil, typedAmounts: [])
                if decision == .decided(approved: approve) {
                    logger.notice("CIBA decision", metadata: ["request": "\(id)", "approved": "\(approve)", "by": "\(staff)"])
                    return .cibaDecided(by: staff)
                }
                return Self.refusal(decision, id: id)
            case .cibaApprove(let id, let hash, let amounts):
                let decision = try await ciba.decide(id: id, approve: true, by: staff, shownHash: hash, typedAmounts: amounts)
                logger.notice("CIBA approval", metadata: ["request": "\(id)", "outcome": "\(decision)", "by": "\(staff)"])
                switch decision {
                case .authorised(let approvals, let required): return .cibaApproval(by: staff, approvals: approvals, required: required)
                case .decided(approved: true): return .cibaApproval(by: staff, approvals: 1, required: 1)
                case .approvalRecorded(let approvals, let required): return .cibaApproval(by: staff, approvals: approvals, required: required)
                default: return Self.refusal(decision, id: id)
                }
            case .consentsList, .consentShow, .consentRevoke:
                return try await handleConsents(request, staff: staff)
            }
        } catch {
            logger.error("admin request failed", metadata: ["op": "\(request.op)", "reason": "\(error)"])
            return .failure("the request failed")
        }
    }
}

extension AdminSocket {
    /// The consent operations (issue 19). Ids and names the caller sent are echoed through `TerminalText`.
    func handleConsents(_ request: AdminRequest, staff: String) async throws(StorageError) -> AdminResponse {
        guard let consents else { return .failure("consents are not served by this daemon") }
        switch request {
        case .consentsList(let clientID, let user, let status, let limit):
            var wanted: Consent.Status?
            if let status {
                guard let known = Consent.Status(rawValue: status) else {
                    return .failure(
                        "unknown status \(TerminalText.safe(status)): one of \(Consent.Status.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                wanted = known
            }
            let listed = try await consents.list(clientID: clientID, subject: user, status: wanted, limit: limit ?? 200)
            return .consents(listed.map(consents.json))
        case .consentShow(let id):
            guard let consent = try await consents.consent(id: id) else { return .failure("no consent \(TerminalText.safe(id))") }
            return .consents([consents.json(consent)])
        case .consentRevoke(let id):
            // The staff account is the peer's (SO_PEERCRED), whatever the client sent.
            switch try await consents.revoke(id: id, staff: staff) {
            case .unknown:
                return .failure("no consent \(TerminalText.safe(id))")
            case .notRevocable(let status):
                return .failure("consent \(TerminalText.safe(id)) is \(status.rawValue): only an awaiting or authorised consent can be revoked")
            case .revoked(let consent):
                logger.notice("consent revoked", metadata: ["consent": "\(consent.id)", "by": "staff:\(staff)"])
                return .consentRevoked(consents.json(consent), by: "staff:\(staff)")
            }
        default:
            return .failure("not a consent operation")
        }
    }
}

/// `struct ucred` of `<sys/socket.h>` on Linux (pid, uid, gid), which the Glibc module leaves out without
/// `_GNU_SOURCE`; the layout is fixed by the kernel ABI.
struct PeerCredentials: Sendable {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}

extension AdminSocket {
    /// The operator's line for a decision that was not recorded as asked.
    static func refusal(_ decision: CIBADecisionService.Decision, id: String) -> AdminResponse {
        switch decision {
        case .notPending, .decided, .authorised, .approvalRecorded: .failure("no pending request \(id)")
        case .alreadyApprovedBy: .failure("you have approved request \(id) already: another staff account must give the next approval")
        case .detailsChanged: .failure("the details of request \(id) changed after they were shown: review it again")
        case .detailsNotShown:
            .failure("request \(id) carries payment or account details: approve it at the fapictl ciba prompt, or with fapictl ciba approve --amount")
        case .amountMismatch: .failure("the amount typed is not the amount of request \(id): not approved")
        case .decidedEarlier(let approved): .failure("request \(id) was \(approved ? "approved" : "denied") by others before this decision")
        }
    }
}
