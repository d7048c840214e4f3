import AuthorizationServer
import Foundation
import HTTPTypes
import Hummingbird
import JOSE
import OpenSSLKit
import Logging

/// Gives every request its `x-fapi-interaction-id` (FAPI 1 Baseline §6.2.1-11): the client's value when it
/// sent a valid UUID, a fresh UUID otherwise. The id and the client's address are the request's
/// `AuditContext`, so they are on every log line and audit event of the request. Errors thrown inside become
/// their responses (`server_error` for anything unexpected), and every response carries the id and HSTS.
struct InteractionIDMiddleware: RouterMiddleware {
    typealias Context = FapidRequestContext
    static var header: HTTPField.Name { HTTPField.Name("x-fapi-interaction-id")! }
    static var strictTransportSecurity: HTTPField.Name { HTTPField.Name("Strict-Transport-Security")! }
    static var hstsPolicy: String { "max-age=31536000" }

    let certificates: ClientCertificateSource

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let interactionID = request.headers[Self.header].flatMap { InteractionID.isValid($0) ? $0 : nil } ?? InteractionID.make()
        let audit = AuditContext(interactionID: interactionID, source: await sourceAddress(request, context: context))
        var response: Response
        do {
            response = try await AuditContext.$current.withValue(audit) { () async throws -> Response in try await next(request, context) }
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            // Anything unexpected is a bare server_error; the type goes to the log only.
            response = OAuthResponse.error(.server("unhandled \(String(reflecting: type(of: error)))"), logger: context.logger)
        }
        response.headers[Self.header] = interactionID
        // RFC 6797: every response of this (HTTPS-only) server tells browsers to use HTTPS only.
        response.headers[Self.strictTransportSecurity] = Self.hstsPolicy
        return response
    }

    /// The client's address: the socket peer, or for a trusted proxy the last `X-Forwarded-For` hop it added.
    func sourceAddress(_ request: Request, context: Context) async -> String? {
        // With pinned proxy certificates, X-Forwarded-For counts only from an authenticated hop, as Client-Cert does.
        guard let forwarded = request.headers[.forwardedFor],
            await certificates.isAuthenticatedProxy(channel: context.channel, remoteAddress: context.remoteAddress)
        else {
            return context.remoteAddress
        }
        let last = forwarded.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) }
        return (last?.isEmpty ?? true) ? context.remoteAddress : last
    }
}

extension HTTPField.Name {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}

/// `x-fapi-interaction-id` values: RFC 4122 UUIDs. Made from OpenSSL's generator (Foundation's `UUID()`
/// opens and reads `/dev/urandom` on every call, a measurable share of a request here).
enum InteractionID {
    /// A fresh version-4 UUID, lowercase.
    static func make() -> String {
        var bytes = Crypto.randomBytes(16)
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        var text = Array(Crypto.hex(bytes).utf8)
        for position in [20, 16, 12, 8] { text.insert(UInt8(ascii: "-"), at: position) }
        return String(decoding: text, as: UTF8.self)
    }

    /// Whether `value` is a UUID in its 8-4-4-4-12 hexadecimal form (either case).
    static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): continue
                default: return false
                }
            }
        }
        return true
    }
}

