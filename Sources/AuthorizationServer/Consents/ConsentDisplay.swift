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
/// - a pass-through type: its name, then `TYPE: key: value` for its scalar members (at most 12, values cut at 120
///   characters), sorted by name.
///
/// Accounts are masked (`AccountReference.masked`). TPP text is kept as sent except that control, format and
/// bidirectional characters become `?` (details that passed validation hold none); lines are NOT escaped: the
/// caller escapes for HTML (`HTMLText`) or the terminal (`TerminalText`).
public enum ConsentDisplay {
    /// The most lines one detail of a pass-through type contributes, and the longest value shown.
    static let maximumPassThroughLines = 12
    static let maximumValueCharacters = 120

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
        let amount = object["instructedAmount"]?["amount"]?.stringValue.map(shown) ?? "an unstated amount"
        let currency = object["instructedAmount"]?["currency"]?.stringValue.map(shown) ?? ""
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
        var lines = [name]
        for key in object.keys.sorted() where key != "type" {
            guard lines.count <= maximumPassThroughLines else { break }
            let value: String
            switch object[key]! {
            case .string(let s): value = s
            case .int(let i): value = String(i)
            case .double(let d): value = JSON.double(d).serialized()
            case .bool(let b): value = b ? "yes" : "no"
            case .null, .array, .object: continue
            }
            lines.append("\(name): \(shown(key)): \(shown(value))")
        }
        return lines
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

    /// TPP text as shown: unsafe characters (`DisplayText.isUnsafe`) replaced, and at most 120 characters.
    static func shown(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(maximumValueCharacters) {
            scalars.append(DisplayText.isUnsafe(scalar) ? "?" : scalar)
        }
        let result = String(scalars)
        return text.unicodeScalars.count > maximumValueCharacters ? result + "..." : result
    }
}
