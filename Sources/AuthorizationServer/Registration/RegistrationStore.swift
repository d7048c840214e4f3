import Foundation

/// What is kept about a dynamically registered client beside its metadata.
public struct RegistrationRecord: Sendable, Equatable {
    public var clientID: String
    /// SHA-256 of the registration access token; the token itself is never stored.
    public var accessTokenHash: [UInt8]
    public var directory: String
    public var softwareID: String
    public var orgID: String?
    /// `x5t#S256` of the transport certificate used to register; management requires the same one.
    public var certificateThumbprint: String
    /// The software statement as received, to re-validate updates against.
    public var softwareStatement: String

    public init(
        clientID: String, accessTokenHash: [UInt8], directory: String, softwareID: String, orgID: String?, certificateThumbprint: String,
        softwareStatement: String
    ) {
        self.clientID = clientID
        self.accessTokenHash = accessTokenHash
        self.directory = directory
        self.softwareID = softwareID
        self.orgID = orgID
        self.certificateThumbprint = certificateThumbprint
        self.softwareStatement = softwareStatement
    }
}

public protocol RegistrationStore: Sendable {
    /// Stores the client and its registration in one transaction.
    func insertRegistration(_ client: Client, _ record: RegistrationRecord, audit: AuditEvent?) async throws(StorageError)
    func registration(clientID: String) async throws(StorageError) -> RegistrationRecord?
    /// Replaces the client's metadata and its registration (new access token hash) in one transaction, only
    /// while the stored access token hash is still `previousTokenHash`; false when another update won.
    func updateRegistration(
        _ client: Client, _ record: RegistrationRecord, previousTokenHash: [UInt8], audit: AuditEvent?
    ) async throws(StorageError) -> Bool
}
