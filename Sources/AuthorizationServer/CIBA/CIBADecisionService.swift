public import Foundation
import JOSE

/// The bank staff's side of CIBA (CIBA Core §7.3: the authentication device is the staff terminal): which
/// backchannel requests await a decision, and recording one under the staff member's name. Who the staff
/// member is comes from the caller (the admin socket reads it from the kernel), never from the request.
public struct CIBADecisionService: Sendable {
    /// A pending request as the staff terminal shows it: never the secret `auth_req_id`.
    public struct PendingRequest: Sendable, Equatable {
        /// The internal id the staff decide by.
        public let id: String
        public let clientID: String
        /// The client's registered name, when it has one (it may have been removed meanwhile).
        public let clientName: String?
        /// The client's organisation (`org_name`, else `org_id`), when registered.
        public let organisation: String?
        public let user: String
        public let scope: String
        public let bindingMessage: String?
        public let expiresAt: Date

        public init(
            id: String, clientID: String, clientName: String?, organisation: String?, user: String, scope: String, bindingMessage: String?,
            expiresAt: Date
        ) {
            self.id = id
            self.clientID = clientID
            self.clientName = clientName
            self.organisation = organisation
            self.user = user
            self.scope = scope
            self.bindingMessage = bindingMessage
            self.expiresAt = expiresAt
        }
    }

    let store: any CIBAStore
    let clients: any ClientStore
    let clock: any WallClock

    public init(store: any CIBAStore, clients: any ClientStore, clock: any WallClock) {
        self.store = store
        self.clients = clients
        self.clock = clock
    }

    /// Pending, unexpired requests, oldest first, each with its client's name and organisation.
    public func pending() async throws(StorageError) -> [PendingRequest] {
        var rows: [PendingRequest] = []
        for request in try await store.pendingCIBARequests(now: clock.now()) {
            let client = try? await clients.client(id: request.clientID)
            rows.append(
                PendingRequest(
                    id: request.id, clientID: request.clientID, clientName: client?.name,
                    organisation: (client?.metadata["org_name"] ?? client?.metadata["org_id"])?.stringValue, user: request.username,
                    scope: request.scope, bindingMessage: request.bindingMessage, expiresAt: request.expiresAt))
        }
        return rows
    }

    /// Records `staff`'s decision on the pending, unexpired request `id` (with its `ciba.decided` audit event,
    /// in the store's transaction) and counts it; false when there is no such pending request.
    public func decide(id: String, approve: Bool, by staff: String) async throws(StorageError) -> Bool {
        let recorded = try await store.decideCIBARequest(id: id, approve: approve, by: staff, now: clock.now())
        if recorded { ServerMetrics.cibaDecisions.increment(approve ? "approved" : "denied") }
        return recorded
    }
}
