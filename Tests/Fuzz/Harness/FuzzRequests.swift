import AuthorizationServer
import Foundation
import HTTPEndpoints
import JOSE
import MemoryStorage
import OpenSSLKit

/// Targets for what a TPP sends in a request: form bodies, registration bodies, software statements, request objects
/// and DPoP proofs. The signed ones are signed by the harness with the key the server expects, so the fuzzer spends
/// its time in the checks after the signature, where the claims are read. An input whose first byte is 0 is sent as
/// it is instead (the rest of the bytes as the compact JWS), so the parsing before the signature is covered too.
enum FuzzRequests {
    static func form(_ bytes: [UInt8]) {
        guard let parameters = try? FormBody.parse(bytes) else { return }
        // Encoding what we read and reading it again gives the same parameters.
        let encoded = parameters.map { percentEncode($0.key) + "=" + percentEncode($0.value) }.joined(separator: "&")
        FuzzInvariant.check((try? FormBody.parse(Array(encoded.utf8))) == parameters, "form parameters do not survive a round trip")
    }

    static func registration(_ bytes: [UInt8]) -> FuzzCheck? {
        let fixtures = FuzzFixtures.shared
        var body = bytes
        if case .object(var members)? = try? JSON.parse(bytes), members["software_statement"] == nil {
            guard let statement = try? fixtures.directorySigner.sign(claims: statementClaims(fixtures)) else { return nil }
            members["software_statement"] = .string(statement)
            body = JSON.object(members).bytes
        }
        return register(body)
    }

    static func softwareStatement(_ bytes: [UInt8]) -> FuzzCheck? {
        let fixtures = FuzzFixtures.shared
        guard let statement = signedOrRaw(bytes, with: fixtures.directorySigner) else { return nil }
        return register(JSON.object(["software_statement": .string(statement), "grant_types": ["authorization_code", "refresh_token"]]).bytes)
    }

    static func requestObject(_ bytes: [UInt8]) -> FuzzCheck? {
        let fixtures = FuzzFixtures.shared
        guard let token = signedOrRaw(bytes, with: fixtures.clientSigner) else { return nil }
        // The two endpoints that read an authorization request from a request object by value.
        let endpoint: RequestEndpoint = (bytes.first ?? 0) % 2 == 0 ? .pushed : .authorize
        return {
            await FuzzReport.outcome("request-object") { _ = try await fixtures.requestObjects.validate(token, client: fixtures.client, endpoint: endpoint) }
        }
    }

    /// First byte: 0 sends the rest as the proof; otherwise the rest are the claims of a proof signed with the key in
    /// its header, checked for the token endpoint, and an odd first byte also binds an access token (`ath`).
    static func dpop(_ bytes: [UInt8]) -> FuzzCheck? {
        let fixtures = FuzzFixtures.shared
        guard let mode = bytes.first else { return nil }
        let rest = Array(bytes.dropFirst())
        let proof: String
        if mode == 0 {
            proof = String(decoding: rest, as: UTF8.self)
        } else {
            let header: [String: JSON] = ["typ": "dpop+jwt", "alg": "ES256", "jwk": .object(fixtures.dpopJWK.publicMembers)]
            let input = Base64URL.encode(JSON.object(header).bytes) + "." + Base64URL.encode(rest)
            guard let signature = try? fixtures.dpopKey.sign(Array(input.utf8), algorithm: .ES256) else { return nil }
            proof = input + "." + Base64URL.encode(signature)
        }
        let request = DPoPRequest(proofs: [proof], method: "POST", url: FuzzFixtures.issuer + "/token")
        let accessToken = mode % 2 == 1 ? "fuzz-access-token" : nil
        return {
            await FuzzReport.outcome("dpop") { _ = try await fixtures.dpop.validate(request, accessToken: accessToken) }
        }
    }

    // MARK: Helpers

    /// A valid statement of the fixture directory for the leaf's organisation; the seeds of `software-statement` are
    /// variations of it.
    static func statementClaims(_ fixtures: FuzzFixtures) -> [String: JSON] {
        [
            "iss": .string(FuzzFixtures.directoryIssuer), "iat": .int(Int64(fixtures.now.timeIntervalSince1970)), "jti": "fuzz-statement",
            "software_id": "fuzz-software", "org_id": "0015800001041RbAAI", "software_roles": ["AISP", "PISP"],
            "software_client_name": "Fuzz TPP", "software_redirect_uris": [.string(FuzzFixtures.redirectURI)],
        ]
    }

    /// Registers `body` on fresh stores (so memory stays flat) with the leaf as the transport certificate.
    static func register(_ body: [UInt8]) -> FuzzCheck {
        let fixtures = FuzzFixtures.shared
        return {
            let storage = MemoryStorage()
            let service = RegistrationService(
                directories: [fixtures.trustedDirectory], clients: storage.clients, registrations: storage.registrations,
                replay: ForgetfulReplayStore(), fetcher: OfflineFetcher(), status: nil,
                settings: RegistrationService.Settings(issuer: FuzzFixtures.issuer), clock: fixtures.clock)
            await FuzzReport.outcome("registration") { _ = try await service.register(body: body, isJWT: false, certificate: fixtures.presentedLeaf) }
        }
    }

    /// `bytes` after a 0 byte as a compact JWS as it is; otherwise all of `bytes` as the payload signed by `signer`.
    static func signedOrRaw(_ bytes: [UInt8], with signer: SigningKey) -> String? {
        if bytes.first == 0 { return String(decoding: bytes.dropFirst(), as: UTF8.self) }
        return try? signer.sign(payload: bytes, extraHeader: ["typ": "JWT"])
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
