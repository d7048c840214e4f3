import AuthorizationServer
import HTTPTypes
import Hummingbird
import JOSE
import Logging
import NIOCore

/// OAuth responses on the wire: JSON, never cached (RFC 6749 §5.1), errors per §5.2.
enum OAuthResponse {
    static let pragma = HTTPField.Name("Pragma")!

    static func json(_ members: [String: JSON], status: HTTPResponse.Status = .ok) -> Response {
        var response = JSONResponse.make(status: status, .object(members), cache: "no-store")
        response.headers[pragma] = "no-cache"
        return response
    }

    /// A signed JWT response (RFC 9701 §5), never cached like the JSON ones.
    static func jwt(_ compact: String, contentType: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: contentType, .cacheControl: "no-store", pragma: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: compact))
        )
    }

    /// The one rendering of an error at every JSON endpoint (token, introspection, revocation, userinfo, PAR,
    /// CIBA, registration): its code and description as JSON with its status, never cached; `invalid_client`
    /// and `invalid_token` also get `WWW-Authenticate` (RFC 6749 §5.2, RFC 6750 §3). The detail is logged only.
    static func error(_ error: OAuthError, logger: Logger) -> Response {
        log(error, logger: logger)
        return render(error)
    }

    /// The error's response without the log line, with the error's status unless another is given (a rate
    /// limit answers `temporarily_unavailable` with 429, RFC 6585 §4, and logs nothing per request).
    static func render(_ error: OAuthError, status: HTTPResponse.Status? = nil) -> Response {
        var response = json(
            ["error": .string(error.code.rawValue), "error_description": .string(error.description)],
            status: status ?? HTTPResponse.Status(code: error.status)
        )
        if error.code == .invalidClient {
            response.headers[.wwwAuthenticate] = #"Bearer realm="fapid", error="invalid_client""#
        } else if error.code == .invalidToken {
            response.headers[.wwwAuthenticate] = #"Bearer realm="fapid", error="invalid_token""#
        }
        return response
    }

    /// The log line of a refusal: the detail at error level for `server_error`, at info level otherwise.
    static func log(_ error: OAuthError, logger: Logger) {
        if error.code == .serverError {
            logger.error("request failed", metadata: ["error": "\(error.code.rawValue)", "detail": "\(error.detail)"])
        } else {
            logger.info("request refused", metadata: ["error": "\(error.code.rawValue)", "detail": "\(error.detail)"])
        }
    }

    /// Runs an endpoint body, turning any OAuthError into its response.
    static func handle(logger: Logger, _ body: () async throws(OAuthError) -> Response) async -> Response {
        do {
            return try await body()
        } catch {
            return self.error(error, logger: logger)
        }
    }
}
