public import Foundation
public import HTTPTypes
public import Hummingbird
import JOSE
import Logging

/// Wraps the whole router so that every response, errors and 404s included, carries
/// `x-fapi-interaction-id` (FAPI 1 Baseline §6.2.1-11): the client's value when it sent a valid
/// UUID, a fresh UUID otherwise. It also strips RFC 9440 certificate headers that did not come
/// from a trusted proxy, before any handler can see them.
public struct InteractionIDResponder<Base: HTTPResponder>: HTTPResponder where Base.Context == FapidRequestContext {
    public typealias Context = FapidRequestContext
    public static var header: HTTPField.Name { HTTPField.Name("x-fapi-interaction-id")! }

    let base: Base
    let certificates: ClientCertificateSource

    public func respond(to request: Request, context: Context) async throws -> Response {
        var request = request
        if !certificates.isTrustedProxy(context.remoteAddress),
            request.headers[ClientCertificateSource.clientCertHeader] != nil
                || request.headers[ClientCertificateSource.clientCertChainHeader] != nil
        {
            var head = request.head
            head.headerFields[ClientCertificateSource.clientCertHeader] = nil
            head.headerFields[ClientCertificateSource.clientCertChainHeader] = nil
            request = Request(head: head, body: request.body)
        }
        let interactionID = request.headers[Self.header].flatMap { UUID(uuidString: $0) != nil ? $0 : nil } ?? UUID().uuidString.lowercased()
        var response: Response
        do {
            response = try await base.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            response = JSONResponse.make(status: .internalServerError, ["error": "server_error"])
        }
        response.headers[Self.header] = interactionID
        return response
    }
}
