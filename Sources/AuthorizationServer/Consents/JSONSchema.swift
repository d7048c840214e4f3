import Foundation
public import JOSE

/// A bounded subset of JSON Schema draft 2020-12, for the `authorization_details` types the bank configures as
/// pass-through (`authorization_details_pass_through`). Loaded once at start-up; a schema using any keyword not
/// listed here is refused then, naming the keyword (fail closed: an ignored `oneOf` would accept anything).
///
/// Assertions: `type` (a name or an array of names: null, boolean, object, array, number, integer, string),
/// `properties`, `required`, `additionalProperties` (true, false or a schema), `items` (one schema for every
/// element), `minItems`, `maxItems`, `enum`, `const`, `minLength`, `maxLength` (Unicode code points), `minimum`,
/// `maximum`, `pattern` (unanchored, as ECMA-262 regular expressions are; compiled at load). Annotations, which
/// assert nothing: `$schema` (only the draft 2020-12 URI), `title`, `description`, `$comment`. A schema may also
/// be `true` or `false`. At most 16 levels of nesting and 256 keywords in all.
public struct JSONSchema: Sendable, Equatable {
    /// The schema as configured: what equality compares.
    public let source: JSON
    let root: Node

    public static let maximumDepth = 16
    static let maximumKeywords = 256
    static let draft202012 = "https://json-schema.org/draft/2020-12/schema"
    static let typeNames: Set<String> = ["null", "boolean", "object", "array", "number", "integer", "string"]

    public init(_ source: JSON) throws(DetailError) {
        var budget = Self.maximumKeywords
        root = try Node(source, depth: 0, path: "", budget: &budget)
        self.source = source
    }

    public static func == (lhs: JSONSchema, rhs: JSONSchema) -> Bool { lhs.source == rhs.source }

    /// nil when `value` is valid; otherwise the keyword that failed, with the schema path (server text only).
    public func failure(of value: JSON) -> String? { root.failure(of: value, path: "") }

    /// A compiled regular expression, shared read-only between requests.
    final class Pattern: @unchecked Sendable {
        let expression: NSRegularExpression
        init(_ expression: NSRegularExpression) { self.expression = expression }

        func matches(_ text: String) -> Bool {
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            return expression.firstMatch(in: text, options: [], range: range) != nil
        }
    }

    indirect enum Node: Sendable {
        case always
        case never
        case assertions(Assertions)

        init(_ json: JSON, depth: Int, path: String, budget: inout Int) throws(DetailError) {
            if let flag = json.boolValue {
                self = flag ? .always : .never
                return
            }
            guard depth < JSONSchema.maximumDepth else { throw DetailError("schema nests deeper than \(JSONSchema.maximumDepth) levels at \(path)") }
            guard let object = json.objectValue else { throw DetailError("schema at \(path.isEmpty ? "/" : path) must be an object or a boolean") }
            budget -= object.count
            guard budget >= 0 else { throw DetailError("schema has more than \(JSONSchema.maximumKeywords) keywords") }
            self = .assertions(try Assertions(object, depth: depth, path: path, budget: &budget))
        }

        func failure(of value: JSON, path: String) -> String? {
            switch self {
            case .always: nil
            case .never: "false at \(path.isEmpty ? "/" : path)"
            case .assertions(let assertions): assertions.failure(of: value, path: path)
            }
        }
    }

    struct Assertions: Sendable {
        var types: Set<String>?
        var properties: [String: Node] = [:]
        var required: [String] = []
        var additionalProperties: Node?
        var items: Node?
        var minItems: Int?
        var maxItems: Int?
        var enumValues: [JSON]?
        var constValue: JSON?
        var minLength: Int?
        var maxLength: Int?
        var minimum: Double?
        var maximum: Double?
        var pattern: Pattern?

        static let annotations: Set<String> = ["$schema", "title", "description", "$comment"]

        init(_ object: [String: JSON], depth: Int, path: String, budget: inout Int) throws(DetailError) {
            let at = path.isEmpty ? "/" : path
            func count(_ keyword: String) throws(DetailError) -> Int? {
                guard let value = object[keyword] else { return nil }
                guard let number = value.int64Value, number >= 0, number <= 1_000_000 else {
                    throw DetailError("schema keyword \(keyword) at \(at) must be a non-negative integer")
                }
                return Int(number)
            }
            func number(_ keyword: String) throws(DetailError) -> Double? {
                guard let value = object[keyword] else { return nil }
                guard let number = value.numericDate else { throw DetailError("schema keyword \(keyword) at \(at) must be a number") }
                return number
            }
            for keyword in object.keys.sorted() {
                switch keyword {
                case "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
                    "minLength", "maxLength", "minimum", "maximum", "pattern":
                    continue
                case "$schema":
                    guard object[keyword]?.stringValue == JSONSchema.draft202012 else {
                        throw DetailError("schema $schema at \(at) must be \(JSONSchema.draft202012)")
                    }
                case _ where Self.annotations.contains(keyword):
                    continue
                default:
                    let printable = keyword.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" }
                    throw DetailError("schema keyword \(printable ? String(keyword.prefix(40)) : "?") at \(at) is not supported")
                }
            }
            if let value = object["type"] {
                let names = value.stringValue.map { [$0] } ?? value.arrayValue?.compactMap(\.stringValue)
                guard let names, !names.isEmpty, names.count == value.arrayValue?.count ?? 1, names.allSatisfy(JSONSchema.typeNames.contains) else {
                    throw DetailError("schema keyword type at \(at) must name JSON types")
                }
                types = Set(names)
            }
            if let value = object["properties"] {
                guard let members = value.objectValue else { throw DetailError("schema keyword properties at \(at) must be an object") }
                for (name, schema) in members {
                    properties[name] = try Node(schema, depth: depth + 1, path: path + "/properties/" + name, budget: &budget)
                }
            }
            if let value = object["required"] {
                guard let names = value.arrayValue?.compactMap(\.stringValue), names.count == value.arrayValue?.count, Set(names).count == names.count
                else { throw DetailError("schema keyword required at \(at) must be an array of distinct strings") }
                required = names
            }
            if let value = object["additionalProperties"] {
                additionalProperties = try Node(value, depth: depth + 1, path: path + "/additionalProperties", budget: &budget)
            }
            if let value = object["items"] {
                items = try Node(value, depth: depth + 1, path: path + "/items", budget: &budget)
            }
            minItems = try count("minItems")
            maxItems = try count("maxItems")
            minLength = try count("minLength")
            maxLength = try count("maxLength")
            minimum = try number("minimum")
            maximum = try number("maximum")
            if let value = object["enum"] {
                guard let values = value.arrayValue, !values.isEmpty else {
                    throw DetailError("schema keyword enum at \(at) must be a non-empty array")
                }
                enumValues = values
            }
            constValue = object["const"]
            if let value = object["pattern"] {
                guard let text = value.stringValue, text.utf8.count <= 512 else {
                    throw DetailError("schema keyword pattern at \(at) must be a regular expression of at most 512 bytes")
                }
                // The expression runs (ICU, backtracking) on TPP text: the text is bounded, and the shapes that
                // backtrack exponentially are refused.
                guard let maxLength, maxLength <= JSONSchema.maximumPatternSubject else {
                    throw DetailError(
                        "schema keyword pattern at \(at) needs maxLength of at most \(JSONSchema.maximumPatternSubject) in the same schema")
                }
                if let problem = JSONSchema.backtrackingHazard(text) {
                    throw DetailError("schema keyword pattern at \(at) is refused: \(problem)")
                }
                do {
                    pattern = Pattern(try NSRegularExpression(pattern: text))
                } catch {
                    throw DetailError("schema keyword pattern at \(at) is not a valid regular expression")
                }
            }
        }

        func failure(of value: JSON, path: String) -> String? {
            let at = path.isEmpty ? "/" : path
            if let types, !types.contains(where: { JSONSchema.has(value, type: $0) }) { return "type at \(at)" }
            if let enumValues, !enumValues.contains(where: { JSONSchema.equal($0, value) }) { return "enum at \(at)" }
            if let constValue, !JSONSchema.equal(constValue, value) { return "const at \(at)" }
            switch value {
            case .string(let text):
                let length = text.unicodeScalars.count
                if let minLength, length < minLength { return "minLength at \(at)" }
                if let maxLength, length > maxLength { return "maxLength at \(at)" }
                if let pattern, !pattern.matches(text) { return "pattern at \(at)" }
            case .int, .double:
                guard let number = value.numericDate else { return "number at \(at)" }
                if let minimum, number < minimum { return "minimum at \(at)" }
                if let maximum, number > maximum { return "maximum at \(at)" }
            case .array(let elements):
                if let minItems, elements.count < minItems { return "minItems at \(at)" }
                if let maxItems, elements.count > maxItems { return "maxItems at \(at)" }
                if let items {
                    for element in elements {
                        if let failure = items.failure(of: element, path: path + "/items") { return failure }
                    }
                }
            case .object(let members):
                for name in required where members[name] == nil { return "required at \(at)" }
                for (name, member) in members {
                    if let schema = properties[name] {
                        if let failure = schema.failure(of: member, path: path + "/properties/" + name) { return failure }
                    } else if let additionalProperties {
                        if let failure = additionalProperties.failure(of: member, path: path + "/additionalProperties") { return failure }
                    }
                }
            case .null, .bool:
                break
            }
            return nil
        }
    }

    /// The longest string (`maxLength`) a `pattern` may be run on.
    public static let maximumPatternSubject = 1024

    /// Why `pattern` could backtrack exponentially (ReDoS, CWE-1333), or nil: a repeated group (`*`, `+`, `{n,}`,
    /// `{n,m}` with m > 1) that itself contains a variable quantifier (`*`, `+`, `?`, `{n,}`, `{n,m}` with n < m) or
    /// an alternation, e.g. `(a+)+`, `(a*)*`, `(a|aa)+`, `((a+)b)*`. Conservative: some safe expressions are refused
    /// too; a fixed count such as `([0-9]{2}-)+` is allowed. Escapes, `\Q…\E` and character classes are skipped.
    static func backtrackingHazard(_ pattern: String) -> String? {
        let characters = Array(pattern.unicodeScalars)
        /// Per open group: whether its content has a variable quantifier or an alternation.
        var groups: [Bool] = []
        /// Whether the atom just ended was a group whose content was hazardous when repeated.
        var lastGroupRisky = false
        var index = 0
        var afterQuantifier = false

        /// The quantifier at `index`, if any: its length and whether it repeats (more than once) / varies.
        func quantifier(at index: Int) -> (length: Int, repeats: Bool, varies: Bool)? {
            guard index < characters.count else { return nil }
            switch characters[index] {
            case "*", "+": return (1, true, true)
            case "?": return (1, false, true)
            case "{":
                var end = index + 1
                var text = ""
                while end < characters.count, characters[end] != "}" {
                    text.unicodeScalars.append(characters[end])
                    end += 1
                }
                guard end < characters.count else { return nil }
                let parts = text.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
                guard let low = Int(parts[0]) else { return nil }
                let length = end - index + 1
                if parts.count == 1 { return (length, low > 1, false) }
                if parts[1].isEmpty { return (length, true, true) }
                guard let high = Int(parts[1]) else { return nil }
                return (length, high > 1, high > low)
            default: return nil
            }
        }

        while index < characters.count {
            let character = characters[index]
            if afterQuantifier, character == "?" || character == "+" {
                // A lazy or possessive modifier of the quantifier before it.
                afterQuantifier = false
                index += 1
                continue
            }
            if let found = quantifier(at: index) {
                if lastGroupRisky && found.repeats {
                    return "a repeated group contains a quantifier or an alternation (nested quantifiers backtrack exponentially)"
                }
                if found.varies, !groups.isEmpty { groups[groups.count - 1] = true }
                lastGroupRisky = false
                afterQuantifier = true
                index += found.length
                continue
            }
            afterQuantifier = false
            lastGroupRisky = false
            switch character {
            case "\\":
                if index + 1 < characters.count, characters[index + 1] == "Q" {
                    // Quoted literal text up to \E.
                    index += 2
                    while index + 1 < characters.count, !(characters[index] == "\\" && characters[index + 1] == "E") { index += 1 }
                    index += 2
                    continue
                }
                index += 2
                // \p{…}, \x{…}, \N{…}: the braces belong to the escape.
                if index < characters.count, characters[index] == "{", "pPxN".unicodeScalars.contains(characters[index - 1]) {
                    while index < characters.count, characters[index] != "}" { index += 1 }
                    index += 1
                }
                continue
            case "[":
                // A character class (ICU classes nest); `]` first, or after `^`, is literal.
                var depth = 1
                index += 1
                if index < characters.count, characters[index] == "^" { index += 1 }
                if index < characters.count, characters[index] == "]" { index += 1 }
                while index < characters.count, depth > 0 {
                    switch characters[index] {
                    case "\\": index += 1
                    case "[": depth += 1
                    case "]": depth -= 1
                    default: break
                    }
                    index += 1
                }
                continue
            case "(":
                groups.append(false)
                index += 1
                // `(?:`, `(?=`, `(?<name>`, `(?i)`: the `?` opens a group kind, it is no quantifier.
                if index < characters.count, characters[index] == "?" { index += 1 }
                continue
            case ")":
                let risky = groups.popLast() ?? false
                if risky, !groups.isEmpty { groups[groups.count - 1] = true }
                lastGroupRisky = risky
            case "|":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            default:
                break
            }
            index += 1
        }
        return nil
    }

    /// Draft 2020-12 §6.1.1 type names; an `integer` is any number with a zero fractional part.
    static func has(_ value: JSON, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string): true
        case ("number", .int), ("number", .double), ("integer", .int): true
        case ("integer", .double(let d)): d.isFinite && d.rounded() == d
        default: false
        }
    }

    /// JSON Schema equality (draft 2020-12 core §4.2.2): numbers by value, whatever their JSON spelling.
    static func equal(_ a: JSON, _ b: JSON) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            x.count == y.count && x.allSatisfy { name, value in y[name].map { equal(value, $0) } ?? false }
        default: a == b
        }
    }
}
