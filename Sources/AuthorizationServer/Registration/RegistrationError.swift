/// A registration failure (RFC 7591 §3.2.2, RFC 7592 §2): a code from a closed set and a public
/// description; `detail` goes to the log only.
public struct RegistrationError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidSoftwareStatement = "invalid_software_statement"
        case unapprovedSoftwareStatement = "unapproved_software_statement"
        case invalidRedirectURI = "invalid_redirect_uri"
        case invalidClientMetadata = "invalid_client_metadata"
        case invalidRequest = "invalid_request"
        /// RFC 7592 §2: a bad registration access token (or an unknown client, which must look the same).
        case invalidToken = "invalid_token"
        /// RFC 6749 §5.2: the mTLS client authentication registration needs failed (no certificate).
        case invalidClient = "invalid_client"
        case serverError = "server_error"
    }

    public let code: Code
    public let description: String
    public let detail: String

    public init(_ code: Code, _ description: String, detail: String? = nil) {
        self.code = code
        self.description = ErrorDescription.wireSafe(description)
        self.detail = detail ?? description
    }

    public var status: Int {
        switch code {
        case .invalidToken, .invalidClient: 401
        case .serverError: 500
        default: 400
        }
    }

    init(_ error: StorageError) {
        self.init(.serverError, "the registration could not be stored", detail: "\(error)")
    }
}
