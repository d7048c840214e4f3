import JOSE

/// One key of the configuration file (and of the environment, as `FAPID_<NAME>`): its name and how its value is
/// read, checked and stored. `FapidConfiguration.keys` lists them all, once each.
struct ConfigurationKey {
    typealias Reader = (_ value: JSON, _ all: [String: JSON], _ config: inout FapidConfiguration) throws(ConfigurationError) -> Void

    let name: String
    let read: Reader

    static func custom(_ name: String, _ read: @escaping Reader) -> ConfigurationKey {
        ConfigurationKey(name: name, read: read)
    }

    /// A non-empty string.
    static func text(_ name: String, _ path: WritableKeyPath<FapidConfiguration, String>) -> ConfigurationKey {
        custom(name) { value, _, config throws(ConfigurationError) in config[keyPath: path] = try text(value, name) }
    }

    static func optionalText(_ name: String, _ path: WritableKeyPath<FapidConfiguration, String?>) -> ConfigurationKey {
        custom(name) { value, _, config throws(ConfigurationError) in config[keyPath: path] = try text(value, name) }
    }

    /// A whole number in `range`; from the environment it arrives as text.
    static func number(_ name: String, _ path: WritableKeyPath<FapidConfiguration, Int>, in range: ClosedRange<Int>) -> ConfigurationKey {
        custom(name) { value, _, config throws(ConfigurationError) in config[keyPath: path] = try number(value, name, in: range) }
    }

    static func optionalNumber(_ name: String, _ path: WritableKeyPath<FapidConfiguration, Int?>, in range: ClosedRange<Int>) -> ConfigurationKey {
        custom(name) { value, _, config throws(ConfigurationError) in config[keyPath: path] = try number(value, name, in: range) }
    }

    /// true or false (from the environment, the text `true` or `false`).
    static func flag(_ name: String, _ path: WritableKeyPath<FapidConfiguration, Bool>) -> ConfigurationKey {
        custom(name) { value, _, config throws(ConfigurationError) in
            guard let flag = value.boolValue ?? (value.stringValue == "true" ? true : value.stringValue == "false" ? false : nil) else {
                throw ConfigurationError(key: name, reason: "must be true or false")
            }
            config[keyPath: path] = flag
        }
    }

    /// One of the values of `Choice` (its raw value; "must be a or b", or "must be one of a, b, c").
    static func choice<Choice: RawRepresentable & CaseIterable>(
        _ name: String, _ path: WritableKeyPath<FapidConfiguration, Choice>, caseInsensitive: Bool = false
    ) -> ConfigurationKey where Choice.RawValue == String {
        custom(name) { value, _, config throws(ConfigurationError) in
            let text = try text(value, name)
            guard let choice = Choice(rawValue: caseInsensitive ? text.lowercased() : text) else {
                let names = Choice.allCases.map(\.rawValue)
                throw ConfigurationError(
                    key: name,
                    reason: names.count == 2 ? "must be \(names[0]) or \(names[1])" : "must be one of \(names.joined(separator: ", "))")
            }
            config[keyPath: path] = choice
        }
    }

    /// An array of strings, each passing `check`.
    static func list(
        _ name: String, _ path: WritableKeyPath<FapidConfiguration, [String]>, reason: String,
        check: @escaping (String) throws(ConfigurationError) -> Void = { _ throws(ConfigurationError) in }
    ) -> ConfigurationKey {
        custom(name) { value, _, config throws(ConfigurationError) in
            guard let list = value.arrayValue?.compactMap(\.stringValue), list.count == value.arrayValue?.count else {
                throw ConfigurationError(key: name, reason: reason)
            }
            for item in list { try check(item) }
            config[keyPath: path] = list
        }
    }

    static func text(_ value: JSON, _ name: String) throws(ConfigurationError) -> String {
        guard let text = value.stringValue, !text.isEmpty else { throw ConfigurationError(key: name, reason: "must be a non-empty string") }
        return text
    }

    static func number(_ value: JSON, _ name: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let number = value.int64Value ?? value.stringValue.flatMap({ Int64($0) }), range.contains(Int(number)) else {
            throw ConfigurationError(key: name, reason: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(number)
    }
}
