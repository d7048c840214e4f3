import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import TestSupport
import Testing

@Suite("AdministrationService")
struct AdministrationServiceTests {
    let fixture: CoreServiceFixture
    let service: AdministrationService

    init() throws {
        fixture = try CoreServiceFixture("administration")
        service = AdministrationService(clients: fixture.storage.clients, resourceServers: fixture.storage.clients, clock: fixture.clock)
    }

    func audit() async throws -> [[String: String]] {
        try await fixture.storage.audit.rows(after: 0).map(\.values)
    }

    @Test("a client is registered under a new random id, listed, shown and removed, each audited with the operator")
    func clients() async throws {
        let metadata: [String: JSON] = ["client_name": "TPP", "tls_client_auth_subject_dn": "CN=tpp,C=GB", "redirect_uris": ["https://tpp.example/cb"]]
        let first = try await service.addClient(metadata: metadata, by: "operator1")
        let second = try await service.addClient(metadata: metadata, by: "operator1")
        #expect(first.clientID.count == 32 && first.clientID != second.clientID)
        #expect(first.createdAt == fixture.clock.now() && first.name == "TPP")
        #expect(try await Set(service.clients().map(\.clientID)) == [first.clientID, second.clientID])
        #expect(try await service.client(id: first.clientID)?.clientID == first.clientID)

        #expect(try await service.removeClient(id: first.clientID, by: "operator2"))
        #expect(try await !service.removeClient(id: first.clientID, by: "operator2"), "removed already")
        #expect(try await service.client(id: first.clientID) == nil)
        let rows = try await audit()
        #expect(rows.filter { $0["type"] == "client.registered" }.map { $0["user"] } == ["operator1", "operator1"])
        #expect(rows.filter { $0["type"] == "client.deleted" }.map { [$0["user"], $0["client_id"]] } == [["operator2", first.clientID]])
    }

    @Test("values the server assigns and invalid metadata are refused, and nothing is stored")
    func refusedClients() async throws {
        for field in ["client_id", "client_secret"] {
            await #expect {
                _ = try await service.addClient(metadata: [field: "x", "tls_client_auth_subject_dn": "CN=tpp,C=GB"], by: "operator1")
            } throws: { error in
                guard case AdministrationError.serverAssigned(field) = error else { return false }
                return "\(error)" == "\(field): assigned by the server, must not be given"
            }
        }
        await #expect {
            _ = try await service.addClient(metadata: ["tls_client_auth_subject_dn": "CN=tpp,C=GB", "redirect_uris": "https://tpp.example/cb"], by: "operator1")
        } throws: { error in
            guard case AdministrationError.invalidMetadata = error else { return false }
            return "\(error)".hasPrefix("invalid client metadata: ")
        }
        #expect(try await service.clients().isEmpty)
        #expect(try await audit().isEmpty)
    }

    @Test("resource servers: added by subject DN, names unique, removed by id or name, audited")
    func resourceServers() async throws {
        let server = try await service.addResourceServer(name: "rs", subjectDN: "CN=api,O=Bank,C=GB", by: "operator1")
        #expect(server.name == "rs" && server.subjectDN == "CN=api,O=Bank,C=GB" && server.id.count == 24)
        await #expect {
            _ = try await service.addResourceServer(name: "rs", subjectDN: "CN=other,C=GB", by: "operator1")
        } throws: { error in
            guard case AdministrationError.nameTaken("rs") = error else { return false }
            return true
        }
        await #expect {
            _ = try await service.addResourceServer(name: "bad", subjectDN: "not a DN", by: "operator1")
        } throws: { error in
            guard case AdministrationError.invalidSubjectDN = error else { return false }
            return true
        }
        #expect(try await service.resourceServers().map(\.name) == ["rs"])
        #expect(try await service.removeResourceServer(id: "rs", by: "operator2"))
        #expect(try await !service.removeResourceServer(id: server.id, by: "operator2"))
        let rows = try await audit()
        #expect(rows.map { [$0["type"], $0["user"]] } == [["resource_server.added", "operator1"], ["resource_server.removed", "operator2"]])
        #expect(rows.first?["reason"] == "resource server rs, subject CN=api,O=Bank,C=GB")
    }
}
