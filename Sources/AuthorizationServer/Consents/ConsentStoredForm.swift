import Foundation
public import JOSE

/// The text columns of a stored consent, written and read the same way by every SQL backend.
public enum ConsentStoredForm {
    /// `approvals`: a JSON array of `{"by", "at" (seconds), "details_sha256"}`.
    public static func approvals(_ approvals: [Consent.Approval]) -> String {
        JSON.array(
            approvals.map { .object(["by": .string($0.by), "at": .int(StoredTime.seconds($0.at)), "details_sha256": .string($0.detailsHash)]) }
        ).serialized()
    }

    public static func approvals(stored text: String, id: String) throws(StorageError) -> [Consent.Approval] {
        guard let items = (try? JSON.parse(Array(text.utf8)))?.arrayValue else {
            throw StorageError(.conflict, "consent \(id) has unreadable approvals")
        }
        var approvals: [Consent.Approval] = []
        for item in items {
            guard let by = item["by"]?.stringValue, let at = item["at"]?.int64Value, let hash = item["details_sha256"]?.stringValue else {
                throw StorageError(.conflict, "consent \(id) has unreadable approvals")
            }
            approvals.append(Consent.Approval(by: by, at: Date(timeIntervalSince1970: TimeInterval(at)), detailsHash: hash))
        }
        return approvals
    }

    /// `amr`: a JSON array of strings.
    public static func amr(_ amr: [String]) -> String { JSON.array(amr.map(JSON.string)).serialized() }

    public static func amr(stored text: String, id: String) throws(StorageError) -> [String] {
        guard let items = (try? JSON.parse(Array(text.utf8)))?.arrayValue else { throw StorageError(.conflict, "consent \(id) has unreadable amr") }
        return items.compactMap(\.stringValue)
    }

    /// `authorization_details`: the JSON array as serialized.
    public static func details(stored text: String, id: String) throws(StorageError) -> JSON {
        guard let details = try? JSON.parse(Array(text.utf8)), details.arrayValue != nil else {
            throw StorageError(.conflict, "consent \(id) has unreadable authorization_details")
        }
        return details
    }

    public static func status(stored text: String, id: String) throws(StorageError) -> Consent.Status {
        guard let status = Consent.Status(rawValue: text) else { throw StorageError(.conflict, "consent \(id) has an unknown status") }
        return status
    }

    public static func origin(stored text: String, id: String) throws(StorageError) -> Consent.Origin {
        guard let origin = Consent.Origin(rawValue: text) else { throw StorageError(.conflict, "consent \(id) has an unknown origin") }
        return origin
    }
}
