public import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
public import Logging

extension FapidConfiguration {
    /// The configured directories, loaded. A directory whose files are missing is skipped with a warning,
    /// so a daemon without a development directory still starts; a malformed file stops start-up.
    public func loadDirectories(logger: Logger) throws -> [TrustedDirectory] {
        var loaded: [TrustedDirectory] = []
        for directory in directories {
            let keys: TrustedDirectory.Keys
            if let file = directory.jwksFile {
                guard let data = FileManager.default.contents(atPath: file) else {
                    logger.warning("directory skipped: its JWKS file is missing", metadata: ["directory": "\(directory.name)", "file": "\(file)"])
                    continue
                }
                keys = .set(try JWKSet(json: [UInt8](data)))
            } else {
                keys = .uri(directory.jwksURI!)
            }
            loaded.append(
                TrustedDirectory(
                    name: directory.name, issuer: directory.issuer, keys: keys, transportCAs: try CertificateTrustStore(pemFile: directory.caFile),
                    roleScopes: directory.roles.mapValues(Set.init), requiresExpiry: directory.requireExpiry))
        }
        return loaded
    }
}
