public import Foundation
public import JOSE

/// What a customer (consent page) and a bank employee (`fapictl ciba`) read of `authorization_details`: plain
/// sentences, the same for both, so what was approved is what was shown (PSD2 RTS Art. 5 dynamic linking).
///
/// Per detail:
/// - `payment_initiation`: `Pay 250.00 GBP (£250.00) to ACME Ltd`, `To account GB29 NWBK **** 6819`,
///   `From account 60-16-13 ****1234`, `Reference: INV-42`, `Payment details: …`, `End-to-end reference: …`.
/// - `account_information`: `See your balances and transactions`, `Accounts: GB29 NWBK **** 6819` (or `Accounts:
///   all your accounts`), `Until 1 March 2027, 10:00 UTC` (or `Until you withdraw it`).
/// - a pass-through type: its name, then one `TYPE: path: value` line per scalar member, sorted by name, nested
///   members flattened (`TYPE: limits.daily.amount: 500`, arrays as `TYPE: claims[0]: name`; an empty array or
///   object `(empty)`, null `none`). The whole detail is shown: details whose flattened display would pass
///   `maximumPassThroughLines` lines or a line of `maximumLineCharacters` are not `displayable` and are refused at
///   validation (what is approved must be fully shown). Only such never-validated details are shown cut, and then
///   say so.
///
/// Built-in fields are shown in full up to the longest text their validators accept (140 characters). Accounts are
/// masked (`AccountReference.masked`). TPP text is kept as sent except that control, format and
/// bidirectional characters become `?` (details that passed validation hold none); lines are NOT escaped: the
/// caller escapes for HTML (`HTMLText`) or the terminal (`TerminalText`).
public enum ConsentDisplay {
    /// The most member lines one detail of a pass-through type may have, and the longest line (in characters,
    /// Unicode scalars), for its details to be `displayable`.
    public static let maximumPassThroughLines = 40
    public static let maximumLineCharacters = 200
    /// The longest built-in text shown whole: the validators accept at most 140 (`creditorName`, remittance
    /// information); only never-validated text is cut.
    static let maximumValueCharacters = 140

    /// Whether every pass-through detail of `details` can be shown whole (`lines`): at most
    /// `maximumPassThroughLines` member lines, none longer than `maximumLineCharacters`. The built-in types are
    /// always displayable (their validators bound every field). Called at validation, so details that could only be
    /// shown cut are refused (`invalid_authorization_details`) instead of approved unseen.
    public static func displayable(_ details: JSON) -> Bool {
        for entry in (details.arrayValue ?? [details]).prefix(AuthorizationDetailsPolicy.maximumDetails) {
            guard let object = entry.objectValue else { continue }
            let type = object["type"]?.stringValue ?? ""
            guard type != PaymentInitiationDetail.type, type != AccountInformationDetail.type else { continue }
            guard passThroughMembers(type, object) != nil else { return false }
        }
        return true
    }

    /// Plain-words lines for a human (amount with currency, payee name, masked account, reference; account
    /// permissions and expiry; pass-through types as "key: value" lines). Never raw JSON. Not escaped: the
    /// caller escapes for HTML (HTMLText) or the terminal (TerminalText).
    public static func lines(_ details: JSON) -> [String] {
        var lines: [String] = []
        for entry in (details.arrayValue ?? [details]).prefix(AuthorizationDetailsPolicy.maximumDetails) {
            guard let object = entry.objectValue else { continue }
            let type = object["type"]?.stringValue ?? ""
            switch type {
            case PaymentInitiationDetail.type: lines += payment(object)
            case AccountInformationDetail.type: lines += accountInformation(object)
            default: lines += passThrough(type, object)
            }
        }
        return lines
    }

    /// For each payment_initiation detail, the amount exactly as shown, e.g. "250.00" (typed back at fapictl ciba).
    public static func paymentAmounts(_ details: JSON) -> [String] {
        (details.arrayValue ?? [details]).prefix(AuthorizationDetailsPolicy.maximumDetails).compactMap { entry in
            guard entry["type"]?.stringValue == PaymentInitiationDetail.type, let amount = entry["instructedAmount"]?["amount"]?.stringValue
            else { return nil }
            return shown(amount)
        }
    }

    static func payment(_ object: [String: JSON]) -> [String] {
        var lines: [String] = []
        let amount = object["instructedAmount"]?["amount"]?.stringValue.map { shown($0) } ?? "an unstated amount"
        let currency = object["instructedAmount"]?["currency"]?.stringValue.map { shown($0) } ?? ""
        var pay = "Pay \(amount)" + (currency.isEmpty ? "" : " \(currency)")
        if let symbol = CurrencyCode.symbols[currency], DecimalAmount(amount, minorDigits: 3) != nil {
            pay += " (\(symbol)\(grouped(amount)))"
        }
        if let name = object["creditorName"]?.stringValue { pay += " to \(shown(name))" }
        lines.append(pay)
        if let account = object["creditorAccount"].flatMap(maskedAccount) { lines.append("To account \(account)") }
        if let account = object["debtorAccount"].flatMap(maskedAccount) { lines.append("From account \(account)") }
        let remittance = object["remittanceInformation"]
        if let text = remittance?.stringValue ?? remittance?["reference"]?.stringValue { lines.append("Reference: \(shown(text))") }
        if let text = remittance?["unstructured"]?.stringValue ?? object["remittanceInformationUnstructured"]?.stringValue {
            lines.append("Payment details: \(shown(text))")
        }
        if let text = object["endToEndIdentification"]?.stringValue { lines.append("End-to-end reference: \(shown(text))") }
        return lines
    }

    static func accountInformation(_ object: [String: JSON]) -> [String] {
        var lines: [String] = []
        let words: [String: String] = ["balances": "balances", "transactions": "transactions", "details": "account details"]
        let actions = (object["actions"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap { words[$0] } }
        lines.append(actions.isEmpty ? "See your account information" : "See your " + sentenceList(actions))
        if let accounts = object["accounts"]?.arrayValue {
            let masked = accounts.prefix(AuthorizationDetailsPolicy.maximumDetails).map { maskedAccount($0) ?? "an unreadable account" }
            lines.append("Accounts: " + masked.joined(separator: ", "))
        } else {
            lines.append("Accounts: all your accounts")
        }
        if let text = object["expirationDateTime"]?.stringValue {
            lines.append(AccountInformationDetail.parseDateTime(text).map { "Until " + plainDate($0) } ?? "Until an unreadable date")
        } else {
            lines.append("Until you withdraw it")
        }
        return lines
    }

    static func passThrough(_ type: String, _ object: [String: JSON]) -> [String] {
        let name = shown(type.isEmpty ? "details" : type)
        if let members = passThroughMembers(type, object) { return [name] + members }
        // Never-validated details (validation refuses what is not `displayable`): bounded, and saying it is cut.
        var lines = [name]
        var budget = maximumPassThroughLines
        flatten(.object(object), path: "", name: name, into: &lines, budget: &budget, depth: 0)
        return lines.map { line in
            line.unicodeScalars.count <= maximumLineCharacters ? line : String(String.UnicodeScalarView(line.unicodeScalars.prefix(maximumLineCharacters))) + "..."
        } + ["\(name): more details than can be shown here"]
    }

    /// The member lines of a pass-through detail, or nil when it cannot be shown whole within the bounds.
    static func passThroughMembers(_ type: String, _ object: [String: JSON]) -> [String]? {
        let name = shown(type.isEmpty ? "details" : type, cut: false)
        var lines: [String] = []
        var budget = maximumPassThroughLines + 1
        flatten(.object(object), path: "", name: name, into: &lines, budget: &budget, depth: 0)
        guard lines.count <= maximumPassThroughLines, lines.allSatisfy({ $0.unicodeScalars.count <= maximumLineCharacters }) else { return nil }
        return lines
    }

    /// Appends `name: path: value` for every scalar under `value` (members by sorted name, the top-level `type`
    /// left out), stopping once `budget` lines are spent.
    static func flatten(_ value: JSON, path: String, name: String, into lines: inout [String], budget: inout Int, depth: Int) {
        guard budget > 0 else { return }
        func line(_ text: String) {
            lines.append("\(name): \(path): \(text)")
            budget -= 1
        }
        switch value {
        case .string(let s): line(shown(s, cut: false))
        case .int(let i): line(String(i))
        case .double(let d): line(JSON.double(d).serialized())
        case .bool(let b): line(b ? "yes" : "no")
        case .null: line("none")
        case .array(let elements):
            if elements.isEmpty { line("(empty)") }
            for (index, element) in elements.enumerated() where budget > 0 {
                flatten(element, path: path + "[\(index)]", name: name, into: &lines, budget: &budget, depth: depth + 1)
            }
        case .object(let members):
            let keys = members.keys.sorted().filter { !(depth == 0 && $0 == "type") }
            if keys.isEmpty, depth > 0 { line("(empty)") }
            for key in keys where budget > 0 {
                let child = path.isEmpty ? shown(key, cut: false) : path + "." + shown(key, cut: false)
                flatten(members[key]!, path: child, name: name, into: &lines, budget: &budget, depth: depth + 1)
            }
        }
    }

    /// An account object masked, or nil when it is not one.
    static func maskedAccount(_ value: JSON) -> String? {
        (try? AccountReference(value))?.masked
    }

    /// `1 March 2027, 10:00 UTC`: day, English month name, year, then the time in UTC.
    public static func plainDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let months = [
            "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
        ]
        let month = months[((parts.month ?? 1) - 1) % 12]
        let time = String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
        return "\(parts.day ?? 1) \(month) \(parts.year ?? 1970), \(time) UTC"
    }

    /// `a`, `a and b`, `a, b and c`.
    static func sentenceList(_ items: [String]) -> String {
        switch items.count {
        case 0: ""
        case 1: items[0]
        default: items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }

    /// `1250000.00` as `1,250,000.00` (beside the currency symbol, as en-GB writes money).
    static func grouped(_ amount: String) -> String {
        let parts = amount.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        var integer = Array(parts[0])
        var out: [Character] = []
        while integer.count > 3 {
            out.insert(contentsOf: integer.suffix(3), at: 0)
            out.insert(",", at: 0)
            integer.removeLast(3)
        }
        let head = String(integer + out)
        return parts.count > 1 ? head + "." + parts[1] : head
    }

    /// TPP text as shown: unsafe characters (`DisplayText.isUnsafe`) replaced; when `cut`, at most 140 characters
    /// (the longest built-in text validation accepts, so a validated value is always whole).
    static func shown(_ text: String, cut: Bool = true) -> String {
        var scalars = String.UnicodeScalarView()
        let limit = cut ? maximumValueCharacters : Int.max
        for scalar in text.unicodeScalars.prefix(limit) {
            scalars.append(DisplayText.isUnsafe(scalar) ? "?" : scalar)
        }
        let result = String(scalars)
        return text.unicodeScalars.count > limit ? result + "..." : result
    }
}
