import AuthorizationServer
import CertificateStatus
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// The store protocols' contract, run unchanged against memory, SQLite and PostgreSQL. The races run many
/// writers at once on the same row: on PostgreSQL each is its own transaction on its own connection, as two
/// instances' would be.
@Suite("Store contract")
struct StoreContractTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func client(_ id: String) throws -> Client {
        try Client(
            clientID: id,
            metadata: [
                "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp,O=TPP,C=GB",
                "grant_types": ["client_credentials"], "scope": "accounts", "org_id": "org-1",
            ],
            createdAt: t0)
    }

    func accessToken(_ name: String, client: String = "c1", origin: [UInt8]? = nil) -> AccessTokenRecord {
        AccessTokenRecord(
            tokenHash: Crypto.sha256(name), clientID: client, subject: "alice", scope: "accounts", issuedAt: t0, expiresAt: t0.addingTimeInterval(300),
            certificateThumbprint: "x5t", format: "opaque", originHash: origin)
    }

    func code(_ name: String, expires: TimeInterval = 60) -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(
            codeHash: Crypto.sha256(name), clientID: "c1", subject: "alice", redirectURI: "https://tpp.example/cb", scope: "openid accounts",
            codeChallenge: "challenge", nonce: "n-1", authTime: t0, acr: "urn:acr", claims: .object(["id_token": .object([:])]),
            expiresAt: t0.addingTimeInterval(expires))
    }

    func refresh(_ name: String, code: [UInt8]?) -> RefreshTokenRecord {
        RefreshTokenRecord(
            tokenHash: Crypto.sha256(name), clientID: "c1", subject: "alice", scope: "openid accounts", authTime: t0, nonce: nil,
            certificateThumbprint: "x5t", codeHash: code, issuedAt: t0, expiresAt: t0.addingTimeInterval(3600))
    }

    // MARK: Clients, resource servers, users, registrations

    @Test("clients: insert, conflict, read back, list, remove (revoking their tokens), each change audited", arguments: Backend.available)
    func clients(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        let first = try client("c1")
        try await store.clients.insertClient(first, audit: AuditEvent(.clientRegistered, at: t0, client: first))
        let duplicate = await #expect(throws: StorageError.self) {
            try await store.clients.insertClient(first, audit: AuditEvent(.clientRegistered, at: self.t0, client: first))
        }
        #expect(duplicate?.code == .conflict)
        try await store.clients.insertClient(try client("c2"), audit: nil)
        #expect(try await store.clients.client(id: "c1")?.metadata == first.metadata)
        #expect(try await store.clients.client(id: "nobody") == nil)
        #expect(try await store.clients.clients().map(\.clientID) == ["c1", "c2"])

        try await store.tokens.insertAccessToken(accessToken("t1"), audit: nil)
        #expect(try await store.clients.removeClient(id: "c1", at: t0.addingTimeInterval(5), audit: AuditEvent(.clientDeleted, at: t0, clientID: "c1")))
        #expect(try await store.clients.removeClient(id: "c1", at: t0, audit: AuditEvent(.clientDeleted, at: t0, clientID: "c1")) == false)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("t1"))?.revokedAt == t0.addingTimeInterval(5))
        // Two changes recorded; the failed insert and the removal of nothing left no row.
        #expect(try await fixture.auditIsIntact(rows: 2))
    }

    @Test("clients: replacing the metadata keeps id and creation time, is audited, and fails for an unknown client", arguments: Backend.available)
    func replaceClient(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        let first = try client("c1")
        try await store.clients.insertClient(first, audit: nil)
        var metadata = first.metadata
        metadata["fapi_profile"] = "fapi2-security-profile"
        metadata["client_name"] = "Renamed"
        let replaced = try Client(clientID: "c1", metadata: metadata, createdAt: t0)
        #expect(try await store.clients.replaceClient(replaced, audit: AuditEvent(.clientUpdated, at: t0, client: replaced)))
        let read = try #require(try await store.clients.client(id: "c1"))
        #expect(read.profile == .fapi2SecurityProfile && read.name == "Renamed" && read.createdAt == t0)
        #expect(try await store.clients.replaceClient(try client("nobody"), audit: AuditEvent(.clientUpdated, at: t0, clientID: "nobody")) == false)
        #expect(try await store.clients.clients().map(\.clientID) == ["c1"])
        #expect(try await fixture.auditIsIntact(rows: 1))
    }

    @Test("a resource server's introspection_signed_response_alg (RFC 9701 §6) round-trips, PS256 by default", arguments: Backend.available)
    func resourceServerIntrospectionAlgorithm(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        let servers = [
            ResourceServer(id: "rs-a", name: "a", subjectDN: "CN=a", createdAt: t0),
            ResourceServer(id: "rs-b", name: "b", subjectDN: "CN=b", createdAt: t0, introspectionSignedResponseAlg: .ES256),
            ResourceServer(id: "rs-c", name: "c", subjectDN: "CN=c", createdAt: t0, introspectionSignedResponseAlg: .EdDSA),
        ]
        for server in servers { try await store.clients.insertResourceServer(server, audit: nil) }
        #expect(try await store.clients.resourceServers() == servers)
        #expect(try await store.clients.resourceServers().map(\.introspectionSignedResponseAlg) == [.PS256, .ES256, .EdDSA])
    }

    @Test("resource servers, users and registrations round-trip; a stale registration update loses", arguments: Backend.available)
    func registrationsAndUsers(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertResourceServer(ResourceServer(id: "rs1", name: "accounts-api", subjectDN: "CN=rs", createdAt: t0), audit: nil)
        #expect(try await store.clients.resourceServers() == [ResourceServer(id: "rs1", name: "accounts-api", subjectDN: "CN=rs", createdAt: t0)])
        #expect(try await store.clients.removeResourceServer(id: "accounts-api", audit: nil))
        #expect(try await store.clients.resourceServers().isEmpty)

        try await store.users.insertUser(User(username: "alice", passwordHash: "scrypt$x", createdAt: t0))
        let duplicate = await #expect(throws: StorageError.self) {
            try await store.users.insertUser(User(username: "alice", passwordHash: "other", createdAt: self.t0))
        }
        #expect(duplicate?.code == .conflict)
        #expect(try await store.users.user(named: "alice")?.passwordHash == "scrypt$x")
        #expect(try await store.users.users().map(\.username) == ["alice"])

        let registered = try client("dcr-1")
        let record = RegistrationRecord(
            clientID: "dcr-1", accessTokenHash: Crypto.sha256("rat-1"), directory: "dir", softwareID: "sw", orgID: "org-1",
            certificateThumbprint: "x5t", softwareStatement: "ssa")
        try await store.registrations.insertRegistration(registered, record, audit: nil)
        #expect(try await store.registrations.registration(clientID: "dcr-1") == record)
        let next = RegistrationRecord(
            clientID: "dcr-1", accessTokenHash: Crypto.sha256("rat-2"), directory: "dir", softwareID: "sw", orgID: "org-1",
            certificateThumbprint: "x5t", softwareStatement: "ssa")
        // Two updates holding the same current token race: exactly one rotates it.
        let won = await concurrently(10) { _ in
            try await store.registrations.updateRegistration(registered, next, previousTokenHash: Crypto.sha256("rat-1"), audit: nil)
        }
        #expect(won == 1)
        #expect(try await store.registrations.registration(clientID: "dcr-1")?.accessTokenHash == Crypto.sha256("rat-2"))
        #expect(try await store.clients.removeClient(id: "dcr-1", at: t0, audit: nil))
        #expect(try await store.registrations.registration(clientID: "dcr-1") == nil)
    }

    // MARK: Tokens and replay

    @Test("access tokens: stored by hash, revoked only by their own client; one of a removed client is stored revoked", arguments: Backend.available)
    func accessTokens(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.tokens.insertAccessToken(accessToken("ghost's", client: "removed"), audit: nil)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("ghost's"))?.revokedAt == t0)
        try await store.tokens.insertAccessToken(accessToken("t1"), audit: nil)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("t1")) == accessToken("t1").with(origin: nil))
        #expect(try await store.tokens.revokeAccessToken(hash: Crypto.sha256("t1"), clientID: "other", at: t0, audit: nil) == false)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("t1"))?.revokedAt == nil)
        #expect(try await store.tokens.revokeAccessToken(hash: Crypto.sha256("t1"), clientID: "c1", at: t0.addingTimeInterval(1), audit: nil))
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("t1"))?.revokedAt == t0.addingTimeInterval(1))
        let duplicate = await #expect(throws: StorageError.self) { try await store.tokens.insertAccessToken(self.accessToken("t1"), audit: nil) }
        #expect(duplicate?.code == .conflict)
    }

    @Test("a jti is consumed once, even by 50 concurrent requests; an expired one may be used again", arguments: Backend.available)
    func replay(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        let until = t0.addingTimeInterval(60)
        let fresh = await concurrently(50) { _ in try await store.tokens.consume(jti: "j1", clientID: "c1", expiresAt: until, now: self.t0) }
        #expect(fresh == 1)
        #expect(try await store.tokens.consume(jti: "j1", clientID: "c2", expiresAt: until, now: t0))
        #expect(try await store.tokens.consume(jti: "j1", clientID: "c1", expiresAt: until.addingTimeInterval(60), now: until.addingTimeInterval(1)))
    }

    @Test("expired rows are swept after the retention", arguments: Backend.available)
    func sweep(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.tokens.insertAccessToken(accessToken("old"), audit: nil)
        _ = try await store.tokens.consume(jti: "j", clientID: "c1", expiresAt: t0, now: t0)
        #expect(try await store.tokens.sweepExpired(now: t0.addingTimeInterval(100), retention: 3600) == 1)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("old")) != nil)
        #expect(try await store.tokens.sweepExpired(now: t0.addingTimeInterval(300 + 3601), retention: 3600) == 1)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("old")) == nil)
    }

    // MARK: Codes and refresh tokens

    @Test("of 50 concurrent redemptions of one code exactly one succeeds; the rest are reuse", arguments: Backend.available)
    func codeRace(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.codes.insertCode(code("k1"), audit: nil)
        let redeemed = await concurrently(50) { _ in
            if case .redeemed(let record) = try await store.codes.redeemCode(hash: Crypto.sha256("k1"), now: self.t0) {
                return record == self.code("k1")
            }
            return false
        }
        #expect(redeemed == 1)
        // 49 reuses, each audited in its own transaction; the chain is linear.
        #expect(try await fixture.auditIsIntact(rows: 49))
        #expect(try await store.codes.redeemCode(hash: Crypto.sha256("unknown"), now: t0) == .unknownOrExpired)
        try await store.codes.insertCode(code("expired", expires: -1), audit: nil)
        #expect(try await store.codes.redeemCode(hash: Crypto.sha256("expired"), now: t0) == .unknownOrExpired)
    }

    @Test("a reused code revokes what it produced, and what is stored from it afterwards is stored revoked", arguments: Backend.available)
    func codeReuse(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        let codeHash = Crypto.sha256("k1")
        try await store.codes.insertCode(code("k1"), audit: nil)
        guard case .redeemed = try await store.codes.redeemCode(hash: codeHash, now: t0) else { Issue.record("first redemption"); return }
        try await store.tokens.insertAccessToken(accessToken("a1", origin: codeHash), audit: nil)
        try await store.codes.insertRefreshToken(refresh("r1", code: codeHash))
        try await store.tokens.insertAccessToken(accessToken("a2", origin: Crypto.sha256("r1")), audit: nil)
        #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r1")) == refresh("r1", code: codeHash))

        #expect(try await store.codes.redeemCode(hash: codeHash, now: t0.addingTimeInterval(1)) == .reused)
        for name in ["a1", "a2"] { #expect(try await store.tokens.accessToken(hash: Crypto.sha256(name))?.revokedAt != nil) }
        #expect(try await store.codes.refreshToken(hash: Crypto.sha256("r1"))?.revokedAt != nil)

        // Late inserts of the first redemption, and refreshes of its revoked refresh token, are stored revoked.
        try await store.tokens.insertAccessToken(accessToken("late", origin: codeHash), audit: nil)
        try await store.codes.insertRefreshToken(refresh("late refresh", code: codeHash))
        try await store.tokens.insertAccessToken(accessToken("refreshed", origin: Crypto.sha256("r1")), audit: nil)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("late"))?.revokedAt != nil)
        #expect(try await store.codes.refreshToken(hash: Crypto.sha256("late refresh"))?.revokedAt != nil)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("refreshed"))?.revokedAt != nil)

        // Another code's tokens are untouched.
        try await store.codes.insertCode(code("k2"), audit: nil)
        _ = try await store.codes.redeemCode(hash: Crypto.sha256("k2"), now: t0)
        try await store.tokens.insertAccessToken(accessToken("fine", origin: Crypto.sha256("k2")), audit: nil)
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("fine"))?.revokedAt == nil)
    }

    @Test("revoking a refresh token revokes the access tokens refreshed from it, for its own client only", arguments: Backend.available)
    func refreshRevocation(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        try await store.codes.insertRefreshToken(refresh("r1", code: nil))
        try await store.tokens.insertAccessToken(accessToken("a1", origin: Crypto.sha256("r1")), audit: nil)
        #expect(try await store.codes.revokeRefreshToken(hash: Crypto.sha256("r1"), clientID: "other", at: t0, audit: nil) == false)
        #expect(try await store.codes.revokeRefreshToken(hash: Crypto.sha256("r1"), clientID: "c1", at: t0, audit: nil))
        #expect(try await store.tokens.accessToken(hash: Crypto.sha256("a1"))?.revokedAt == t0)
    }

    // MARK: Pushed requests

    @Test("a request_uri is read by its client only while unused and fresh, and consumed once of 50 attempts", arguments: Backend.available)
    func pushedRequests(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        let request = try AuthorizationRequest(json: .object([
            "client_id": "c1", "response_type": "code id_token", "redirect_uri": "https://tpp.example/cb", "scope": "openid accounts",
            "nonce": "n", "state": "s", "code_challenge": .string(Base64URL.encode(Crypto.sha256("verifier"))), "code_challenge_method": "S256",
        ]))
        let uri = Crypto.sha256("urn:1")
        try await store.pushed.insertPushedRequest(PushedRequest(uriHash: uri, clientID: "c1", request: request, expiresAt: t0.addingTimeInterval(60)))
        #expect(try await store.pushed.pushedRequest(uriHash: uri, clientID: "c1", now: t0)?.request == request)
        #expect(try await store.pushed.pushedRequest(uriHash: uri, clientID: "c2", now: t0) == nil)
        #expect(try await store.pushed.pushedRequest(uriHash: uri, clientID: "c1", now: t0.addingTimeInterval(60)) == nil)
        let consumed = await concurrently(50) { _ in try await store.pushed.consumePushedRequest(uriHash: uri, clientID: "c1", now: self.t0) }
        #expect(consumed == 1)
        #expect(try await store.pushed.pushedRequest(uriHash: uri, clientID: "c1", now: t0) == nil)
    }

    // MARK: PSU interactions

    @Test("a PSU interaction is read while fresh, signed in, and taken once of 20 consent forms with its CSRF token", arguments: Backend.available)
    func interactions(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.interactions
        let request = try AuthorizationRequest(json: .object([
            "client_id": "c1", "response_type": "code id_token", "redirect_uri": "https://tpp.example/cb", "scope": "openid accounts",
            "nonce": "n", "state": "s", "code_challenge": .string(Base64URL.encode(Crypto.sha256("verifier"))), "code_challenge_method": "S256",
        ]))
        let interaction = PSUInteraction(
            idHash: Crypto.sha256("i1"), clientID: "c1", request: request, requestURIHash: Crypto.sha256("urn"), csrfHash: Crypto.sha256("csrf"),
            createdAt: t0, expiresAt: t0.addingTimeInterval(600))
        try await store.insertInteraction(interaction)
        #expect(try await store.interaction(idHash: Crypto.sha256("i1"), now: t0) == interaction)
        #expect(try await store.interaction(idHash: Crypto.sha256("i1"), now: t0.addingTimeInterval(600)) == nil)
        #expect(try await store.signInInteraction(idHash: Crypto.sha256("i1"), username: "alice", authTime: t0.addingTimeInterval(5), now: t0))
        #expect(try await store.signInInteraction(idHash: Crypto.sha256("nope"), username: "alice", authTime: t0, now: t0) == false)
        #expect(try await store.takeInteraction(idHash: Crypto.sha256("i1"), csrfHash: Crypto.sha256("wrong"), now: t0) == nil)
        let taken = await concurrently(20) { _ in
            let got = try await store.takeInteraction(idHash: Crypto.sha256("i1"), csrfHash: Crypto.sha256("csrf"), now: self.t0)
            return got?.username == "alice" && got?.authTime == self.t0.addingTimeInterval(5)
        }
        #expect(taken == 1)
        #expect(try await store.interaction(idHash: Crypto.sha256("i1"), now: t0) == nil)

        let session = PSUSession(idHash: Crypto.sha256("s1"), username: "alice", authTime: t0, expiresAt: t0.addingTimeInterval(900))
        try await store.insertSession(session)
        #expect(try await store.session(idHash: Crypto.sha256("s1"), now: t0) == session)
        #expect(try await store.session(idHash: Crypto.sha256("s1"), now: t0.addingTimeInterval(900)) == nil)
    }

    // MARK: CIBA

    func cibaRequest(_ id: String, mode: String = "poll", expires: TimeInterval = 300) -> CIBARequest {
        CIBARequest(
            id: id, authReqIDHash: Crypto.sha256("auth-req-\(id)"), clientID: "c1", username: "alice", scope: "openid accounts",
            bindingMessage: "W4SCT", acr: nil, deliveryMode: mode, notificationToken: mode == "poll" ? nil : "bearer-\(id)", createdAt: t0,
            expiresAt: t0.addingTimeInterval(expires), interval: 5, pingAuthReqID: mode == "poll" ? nil : "auth-req-\(id)")
    }

    @Test("CIBA: polls pace, a decision is taken once, and an approval is redeemed by exactly one of 50 polls", arguments: Backend.available)
    func ciba(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.ciba
        let hash = Crypto.sha256("auth-req-r1")
        try await store.insertCIBARequest(cibaRequest("r1"), audit: nil)
        #expect(try await store.pendingCIBARequests(now: t0).map(\.id) == ["r1"])
        #expect(try await store.pendingCIBACount(now: t0) == 1)
        #expect(try await store.pollCIBARequest(authReqIDHash: hash, clientID: "c1", now: t0) == .pending)
        #expect(try await store.pollCIBARequest(authReqIDHash: hash, clientID: "c1", now: t0.addingTimeInterval(1)) == .slowDown)
        #expect(try await store.pollCIBARequest(authReqIDHash: hash, clientID: "c2", now: t0.addingTimeInterval(30)) == .invalid)

        let decided = await concurrently(10) { index in
            try await store.decideCIBARequest(id: "r1", approve: true, by: "staff-\(index)", now: self.t0.addingTimeInterval(2))
        }
        #expect(decided == 1)
        #expect(try await store.pendingCIBACount(now: t0) == 0)
        let approved = await concurrently(50) { _ in
            if case .approved(let request) = try await store.pollCIBARequest(authReqIDHash: hash, clientID: "c1", now: self.t0.addingTimeInterval(60)) {
                return request.id == "r1" && request.decidedBy?.hasPrefix("staff-") == true
            }
            return false
        }
        #expect(approved == 1)
        #expect(try await store.pollCIBARequest(authReqIDHash: hash, clientID: "c1", now: t0.addingTimeInterval(61)) == .invalid)
        #expect(try await fixture.auditIsIntact(rows: 1))

        try await store.insertCIBARequest(cibaRequest("r2"), audit: nil)
        #expect(try await store.decideCIBARequest(id: "r2", approve: false, by: "staff", now: t0))
        #expect(try await store.pollCIBARequest(authReqIDHash: Crypto.sha256("auth-req-r2"), clientID: "c1", now: t0) == .denied)
        try await store.insertCIBARequest(cibaRequest("r3", expires: 10), audit: nil)
        #expect(try await store.decideCIBARequest(id: "r3", approve: true, by: "staff", now: t0.addingTimeInterval(11)) == false)
        #expect(try await store.pollCIBARequest(authReqIDHash: Crypto.sha256("auth-req-r3"), clientID: "c1", now: t0.addingTimeInterval(11)) == .expired)
    }

    @Test("a decided ping is claimed by one of several concurrent claimers, and again only after its lease", arguments: Backend.available)
    func cibaNotificationClaims(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.ciba
        try await store.insertCIBARequest(cibaRequest("p1", mode: "ping"), audit: nil)
        try await store.insertCIBARequest(cibaRequest("q1", mode: "push"), audit: nil)
        #expect(try await store.claimCIBANotifications(now: t0, lease: 10, limit: 10).isEmpty)
        #expect(try await store.decideCIBARequest(id: "p1", approve: true, by: "staff", now: t0))
        #expect(try await store.decideCIBARequest(id: "q1", approve: true, by: "staff", now: t0))
        let claimed = await concurrently(20) { _ in try await store.claimCIBANotifications(now: self.t0.addingTimeInterval(1), lease: 10, limit: 10).count == 2 }
        #expect(claimed == 1)
        // Not marked notified (the send failed): claimable again once the lease is over, not before.
        #expect(try await store.claimCIBANotifications(now: t0.addingTimeInterval(5), lease: 10, limit: 10).isEmpty)
        #expect(try await store.claimCIBANotifications(now: t0.addingTimeInterval(12), lease: 10, limit: 10).map(\.id).sorted() == ["p1", "q1"])
        try await store.markCIBANotified(id: "p1", now: t0.addingTimeInterval(12))
        // No more than the limit at once; the rest stay for the next claim.
        for id in ["p2", "p3", "p4"] {
            try await store.insertCIBARequest(cibaRequest(id, mode: "ping"), audit: nil)
            #expect(try await store.decideCIBARequest(id: id, approve: false, by: "staff", now: t0))
        }
        #expect(try await store.claimCIBANotifications(now: t0.addingTimeInterval(13), lease: 10, limit: 2).count == 2)
        #expect(try await store.claimCIBANotifications(now: t0.addingTimeInterval(13), lease: 10, limit: 2).count == 1)
        for id in ["p2", "p3", "p4"] { try await store.markCIBANotified(id: id, now: t0.addingTimeInterval(14)) }
        #expect(try await store.redeemCIBARequest(id: "q1"))
        #expect(try await store.redeemCIBARequest(id: "q1") == false)
        #expect(try await store.claimCIBANotifications(now: t0.addingTimeInterval(30), lease: 10, limit: 10).isEmpty)
    }

    // MARK: Keys, certificate status, audit

    @Test("signing keys: one active per algorithm, rotation retires the previous one atomically", arguments: Backend.available)
    func signingKeys(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.signingKeys
        func record(_ kid: String, _ algorithm: JWSAlgorithm, at date: Date) -> SigningKeyRecord {
            SigningKeyRecord(kid: kid, algorithm: algorithm, keyFile: "signing/\(kid).key", createdAt: date)
        }
        try await store.insertSigningKey(record("ps", .PS256, at: t0), audit: nil)
        try await store.insertSigningKey(record("es", .ES256, at: t0.addingTimeInterval(1)), audit: nil)
        let second = await #expect(throws: StorageError.self) { try await store.insertSigningKey(record("ps2", .PS256, at: self.t0), audit: nil) }
        #expect(second?.code == .conflict)
        let later = t0.addingTimeInterval(100)
        try await store.rotateSigningKey(to: record("es2", .ES256, at: later), at: later, publishUntil: later.addingTimeInterval(3600), audit: nil)
        let records = try await store.signingKeys()
        #expect(records.map(\.kid) == ["ps", "es", "es2"])
        #expect(records[1].retiredAt == later && records[1].publishUntil == later.addingTimeInterval(3600))
        #expect(records[0].retiredAt == nil && records[2].retiredAt == nil)
        // A sealed key's bytes come back as stored.
        let sealed = SigningKeyRecord(kid: "ed", algorithm: .EdDSA, keyFile: "database", createdAt: later, sealedKey: [0, 1, 2, 255])
        try await store.insertSigningKey(sealed, audit: nil)
        #expect(try await store.signingKeys().first { $0.kid == "ed" } == sealed)
    }

    @Test(
        "a rotation stops every key still signing after its time: a pending staged key signs until the newer, an emergency stops all",
        arguments: Backend.available)
    func stagedRotation(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.signingKeys
        func record(_ kid: String, activatesAt: Date?) -> SigningKeyRecord {
            SigningKeyRecord(
                kid: kid, algorithm: .ES256, keyFile: "signing/\(kid).key", createdAt: t0, activatesAt: activatesAt, recordedState: .next)
        }
        try await store.insertSigningKey(SigningKeyRecord(kid: "a", algorithm: .ES256, keyFile: "a.key", createdAt: t0), audit: nil)
        let t1 = t0.addingTimeInterval(900), t2 = t0.addingTimeInterval(910), t3 = t0.addingTimeInterval(20)
        try await store.rotateSigningKey(to: record("n1", activatesAt: t1), at: t1, publishUntil: t1.addingTimeInterval(600), audit: nil)
        try await store.rotateSigningKey(to: record("n2", activatesAt: t2), at: t2, publishUntil: t2.addingTimeInterval(600), audit: nil)
        var byKid = Dictionary(uniqueKeysWithValues: try await store.signingKeys().map { ($0.kid, $0) })
        #expect(byKid["a"]?.retiredAt == t1 && byKid["n1"]?.retiredAt == t2 && byKid["n2"]?.retiredAt == nil)
        #expect(byKid["n2"]?.activatesAt == t2 && byKid["n2"]?.recordedState == .next)
        #expect(byKid["n1"]?.state(at: t1) == .active)

        try await store.rotateSigningKey(to: record("now", activatesAt: nil), at: t3, publishUntil: t3.addingTimeInterval(600), audit: nil)
        byKid = Dictionary(uniqueKeysWithValues: try await store.signingKeys().map { ($0.kid, $0) })
        for kid in ["a", "n1", "n2"] {
            #expect(byKid[kid]?.retiredAt == t3 && byKid[kid]?.publishUntil == t3.addingTimeInterval(600), "\(kid)")
        }
        #expect(byKid["now"]?.state(at: t3) == .active)
    }

    @Test("a key state is recorded, with its audit row, once however many callers race", arguments: Backend.available)
    func recordState(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.signingKeys
        try await store.insertSigningKey(SigningKeyRecord(kid: "k", algorithm: .PS256, keyFile: "k.key", createdAt: t0), audit: nil)
        let before = try await fixture.storage.audit.head()?.seq ?? 0
        let won = await concurrently(8) { _ in
            try await store.recordSigningKeyState(kid: "k", state: .retiring, audit: AuditEvent(.keyRetiring, at: self.t0, reason: "k"))
        }
        #expect(won == 1)
        #expect(try await fixture.storage.audit.head()?.seq == before + 1)
        #expect(try await store.signingKeys().first?.recordedState == .retiring)
        #expect(try await store.recordSigningKeyState(kid: "k", state: .removed, audit: AuditEvent(.keyRemoved, at: t0, reason: "k")))
    }

    @Test("certificate status answers are upserted and only fresh ones load", arguments: Backend.available)
    func statusCache(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage.statusCache
        let good = PersistedStatus(
            thumbprint: "a", status: .good, sourceKind: "ocsp", sourceURL: "http://ocsp.test", until: t0.addingTimeInterval(60), leafDER: [1, 2],
            issuerDER: [3])
        let revoked = PersistedStatus(
            thumbprint: "a", status: .revoked(reason: "keyCompromise", at: t0), sourceKind: "crl", sourceURL: "http://crl.test",
            until: t0.addingTimeInterval(120), leafDER: [1, 2], issuerDER: [3])
        try await store.saveStatus(good, now: t0)
        try await store.saveStatus(revoked, now: t0)
        #expect(try await store.loadStatuses(now: t0) == [revoked])
        #expect(try await store.loadStatuses(now: t0.addingTimeInterval(121)).isEmpty)
    }

    @Test("50 concurrent audited token writes, one of them failing, keep one linear, verifiable chain", arguments: Backend.available)
    func auditChain(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client("c1"), audit: nil)
        // One of them repeats a stored token: it fails alone, and its audit row is not written.
        try await store.tokens.insertAccessToken(accessToken("t7"), audit: nil)
        let written = await concurrently(50) { index in
            try await store.tokens.insertAccessToken(
                self.accessToken("t\(index)"), audit: AuditEvent(.tokenIssued, at: self.t0, clientID: "c1", reason: "token \(index)"))
            return true
        }
        #expect(written == 49)
        for index in 0..<50 { #expect(try await store.tokens.accessToken(hash: Crypto.sha256("t\(index)")) != nil) }
        try await store.audit.append(AuditEvent(.clientAuthenticationFailed, at: t0, clientID: "c1", outcome: .failure, reason: "unknown_client"))
        #expect(try await fixture.auditIsIntact(rows: 50))
        let head = try #require(try await store.audit.head())
        try await store.audit.insertCheckpoint(seq: head.seq, hash: head.hash, jws: "jws", at: t0)
        try await store.audit.insertCheckpoint(seq: head.seq, hash: head.hash, jws: "again", at: t0)
        #expect(try await store.audit.checkpoints() == [AuditCheckpointRecord(seq: 50, hash: head.hash, jws: "jws", createdAt: t0)])
        #expect(try await store.audit.hash(at: 50) == head.hash)
        #expect(try await store.audit.rows(since: t0.addingTimeInterval(1), after: 0).isEmpty)
    }

    @Test("the PostgreSQL backend is exercised when CI runs the tests")
    func postgresUnderCI() {
        #expect(Backend.postgresURL != nil || ProcessInfo.processInfo.environment["CI"] == nil, "CI must provide FAPID_TEST_POSTGRES_URL")
    }
}

extension AccessTokenRecord {
    /// The record as read back: the origin is not returned by lookups.
    func with(origin: [UInt8]?) -> AccessTokenRecord {
        var copy = self
        copy.originHash = origin
        return copy
    }
}
