import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// RFC 9396 §10 `authorization_details_types` at out-of-band registration (`fapictl clients add`/`update`): each
/// type must be one the server supports, built in or configured as pass-through; the client can then use only those.
@Suite("authorization_details_types registration")
struct AuthorizationDetailsTypesRegistrationTests {
    static let base: [String: JSON] = [
        "tls_client_auth_subject_dn": "CN=tpp,C=GB", "redirect_uris": ["https://tpp.example/cb"], "scope": "openid accounts payments",
    ]

    func service(supported: [String] = AuthorizationDetailsPolicy.builtInTypes) throws -> (AdministrationService, CoreStores) {
        let stores = try CoreFixture.stores()
        let service = AdministrationService(
            clients: stores.clients, resourceServers: stores.clients, clock: FixedClock(), authorizationDetailsTypes: supported)
        return (service, stores)
    }

    func metadata(_ types: JSON) -> [String: JSON] {
        var metadata = Self.base
        metadata["authorization_details_types"] = types
        return metadata
    }

    func invalidField(_ run: () async throws(AdministrationError) -> Void) async -> String? {
        do {
            try await run()
            return nil
        } catch {
            if case .invalidMetadata(let metadataError) = error { return metadataError.field }
            return "\(error)"
        }
    }

    @Test("supported types are stored and read back; unsupported ones refused on add and update")
    func addAndUpdate() async throws {
        let (service, stores) = try service()
        let client = try await service.addClient(metadata: metadata(["payment_initiation"]), by: "ops")
        #expect(try await stores.clients.client(id: client.clientID)?.authorizationDetailsTypes == ["payment_initiation"])
        #expect(
            await invalidField { () async throws(AdministrationError) in
                _ = try await service.addClient(metadata: metadata(["card_payment"]), by: "ops")
            }
                == "authorization_details_types")
        #expect(
            await invalidField { () async throws(AdministrationError) in
                _ = try await service.updateClient(id: client.clientID, metadata: metadata(["payment_initiation", "card_payment"]), by: "ops")
            } == "authorization_details_types")
        // The refused update left the client as it was.
        #expect(try await stores.clients.client(id: client.clientID)?.authorizationDetailsTypes == ["payment_initiation"])
        let updated = try await service.updateClient(id: client.clientID, metadata: metadata(["account_information"]), by: "ops")
        #expect(updated?.authorizationDetailsTypes == ["account_information"])
    }

    @Test("a pass-through type is registrable once the server is configured with it, and then usable")
    func passThrough() async throws {
        var settings = AuthorizationDetailsSettings()
        settings.passThrough = try AuthorizationDetailsSettings.passThrough(["card_payment": ["type": "object"]])
        let policy = AuthorizationDetailsPolicy(settings: settings, clock: FixedClock())
        let (service, _) = try service(supported: policy.supportedTypes)
        let client = try await service.addClient(metadata: metadata(["card_payment"]), by: "ops")
        #expect(
            try policy.validate([["type": "card_payment", "pan_last4": "1234"]], client: client) == [["type": "card_payment", "pan_last4": "1234"]])
        #expect(throws: OAuthError.self) { _ = try policy.validate([["type": "payment_initiation"]], client: client) }
    }
}
