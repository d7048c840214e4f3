import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import JOSE
import Logging
import NIOCore

extension Endpoints {
    func registerRegistrationEndpoints(_ service: RegistrationService, on router: Router<FapidRequestContext>) {
        router.post("/register") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let (body, isJWT) = try await Self.registrationBody(request)
                let certificate = await self.clientCertificate(request, context: context)
                let registered = try await service.register(body: body, isJWT: isJWT, certificate: certificate)
                Self.logRegistration("client registered", registered.registration, context.logger)
                return Self.registrationResponse(registered, status: .created, issuer: self.metadata.issuer)
            }
        }
        router.get("/register/:client_id") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let clientID = context.parameters.get("client_id") ?? ""
                let certificate = await self.clientCertificate(request, context: context)
                let (client, _) = try await service.authorize(clientID: clientID, accessToken: Self.bearer(request), certificate: certificate)
                var members = client.registeredJSON.objectValue ?? [:]
                members["registration_client_uri"] = .string(self.metadata.issuer + "/register/" + clientID)
                return OAuthResponse.json(members)
            }
        }
        router.put("/register/:client_id") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let clientID = context.parameters.get("client_id") ?? ""
                let (body, isJWT) = try await Self.registrationBody(request)
                let certificate = await self.clientCertificate(request, context: context)
                let registered = try await service.update(
                    clientID: clientID, accessToken: Self.bearer(request), body: body, isJWT: isJWT, certificate: certificate)
                Self.logRegistration("client registration updated", registered.registration, context.logger)
                return Self.registrationResponse(registered, status: .ok, issuer: self.metadata.issuer)
            }
        }
        router.delete("/register/:client_id") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let clientID = context.parameters.get("client_id") ?? ""
                let certificate = await self.clientCertificate(request, context: context)
                try await service.delete(clientID: clientID, accessToken: Self.bearer(request), certificate: certificate)
                context.logger.notice("client registration deleted", metadata: ["client_id": "\(clientID)", "x5t#S256": "\(certificate?.thumbprint ?? "-")"])
                var response = Response(status: .noContent)
                response.headers[.cacheControl] = "no-store"
                return response
            }
        }
    }

    /// Who registered what: the TPP's organisation, software and certificate (never the access token).
    static func logRegistration(_ message: Logger.Message, _ record: RegistrationRecord, _ logger: Logger) {
        logger.notice(
            message,
            metadata: [
                "client_id": "\(record.clientID)", "software_id": "\(record.softwareID)", "org_id": "\(record.orgID ?? "-")",
                "directory": "\(record.directory)", "x5t#S256": "\(record.certificateThumbprint)",
            ])
    }

    static func registrationBody(_ request: Request) async throws(OAuthError) -> ([UInt8], isJWT: Bool) {
        let type = MediaType.essence(request.headers[.contentType])
        guard type == "application/json" || type == "application/jwt" else {
            throw OAuthError(.invalidRequest, "Content-Type must be application/json or application/jwt")
        }
        do {
            let buffer = try await request.body.collect(upTo: FormBody.maximumSize)
            return (Array(buffer.readableBytesView), type == "application/jwt")
        } catch {
            throw OAuthError(.invalidRequest, "request body too large or unreadable")
        }
    }

    /// RFC 6750 §2.1 bearer token from the Authorization header (scheme case-insensitive).
    static func bearer(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    static func registrationResponse(_ registered: RegistrationService.Registered, status: HTTPResponse.Status, issuer: String) -> Response {
        var members = registered.client.registeredJSON.objectValue ?? [:]
        members["registration_access_token"] = .string(registered.registrationAccessToken)
        members["registration_client_uri"] = .string(issuer + "/register/" + registered.client.clientID)
        return OAuthResponse.json(members, status: status)
    }
}
