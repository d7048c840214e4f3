internal import COpenSSL
internal import Foundation
import OpenSSLKit

/// JWK member values (RFC 7518 §6) to and from OpenSSL key parameters.
extension AsymmetricKey {
    /// Builds a key from JWK members. Checks lengths, curve membership and, for private keys,
    /// that the private and public halves belong together.
    static func fromJWKMembers(_ members: [String: JSON]) throws(JOSEError) -> AsymmetricKey {
        func bytes(_ name: String, required: Bool = true) throws(JOSEError) -> [UInt8]? {
            guard let value = members[name] else {
                if required { throw JOSEError(.invalidKey, "JWK member \(name) missing") }
                return nil
            }
            guard let text = value.stringValue, !text.isEmpty else { throw JOSEError(.invalidKey, "JWK member \(name) is not a string") }
            return try Base64URL.decode(text)
        }
        guard let kty = members["kty"]?.stringValue else { throw JOSEError(.invalidKey, "JWK has no kty") }
        switch kty {
        case "RSA":
            let n = try bytes("n")!
            let e = try bytes("e")!
            // Sizes first, before OpenSSL sees the numbers: a huge modulus is refused without any math (CWE-400).
            try checkRSASizes(modulus: n, exponent: e)
            var parameters: [(String, [UInt8])] = [("n", n), ("e", e)]
            let isPrivate = members["d"] != nil
            if isPrivate {
                parameters.append(("d", try bytes("d")!))
                let crt = ["p", "q", "dp", "dq", "qi"]
                let present = crt.filter { members[$0] != nil }
                if !present.isEmpty {
                    guard present.count == crt.count else { throw JOSEError(.invalidKey, "RSA JWK has a partial CRT set") }
                    let names = ["rsa-factor1", "rsa-factor2", "rsa-exponent1", "rsa-exponent2", "rsa-coefficient1"]
                    for (member, name) in zip(crt, names) { parameters.append((name, try bytes(member)!)) }
                }
                // No private component is longer than the modulus.
                guard parameters.allSatisfy({ $0.1.count <= n.count }) else { throw JOSEError(.invalidKey, "RSA private member longer than n") }
            }
            return try fromData(type: "RSA", isPrivate: isPrivate) { builder throws(JOSEError) in
                for (name, value) in parameters { try builder.pushBigNumber(name, value) }
            }
        case "EC":
            guard members["crv"]?.stringValue == "P-256" else { throw JOSEError(.weakKey, "EC JWK curve must be P-256") }
            let x = try bytes("x")!
            let y = try bytes("y")!
            guard x.count == 32, y.count == 32 else { throw JOSEError(.invalidKey, "P-256 coordinates must be 32 bytes") }
            let d = try bytes("d", required: false)
            if let d, d.count != 32 { throw JOSEError(.invalidKey, "P-256 private key must be 32 bytes") }
            return try fromData(type: "EC", isPrivate: d != nil) { builder throws(JOSEError) in
                try builder.pushString("group", "prime256v1")
                try builder.pushOctets("pub", [0x04] + x + y)
                if let d { try builder.pushBigNumber("priv", d) }
            }
        case "OKP":
            guard members["crv"]?.stringValue == "Ed25519" else { throw JOSEError(.invalidKey, "OKP JWK curve must be Ed25519") }
            let x = try bytes("x")!
            guard x.count == 32 else { throw JOSEError(.invalidKey, "Ed25519 public key must be 32 bytes") }
            if let d = try bytes("d", required: false) {
                guard d.count == 32 else { throw JOSEError(.invalidKey, "Ed25519 private key must be 32 bytes") }
                guard let pkey = d.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }) else {
                    throw OpenSSLErrorQueue.failure(.invalidKey, "Ed25519 private key")
                }
                let key = try AsymmetricKey(taking: pkey, isPrivate: true)
                guard try key.okpPublicBytes() == x else { throw JOSEError(.invalidKey, "Ed25519 x does not match d") }
                return key
            }
            guard let pkey = x.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }) else {
                throw OpenSSLErrorQueue.failure(.invalidKey, "Ed25519 public key")
            }
            return try AsymmetricKey(taking: pkey, isPrivate: false)
        default:
            throw JOSEError(.invalidKey, "unsupported kty \(kty)")
        }
    }

    /// The modulus between `minimumRSABits` and `maximumRSABits` (leading zero bytes ignored), the
    /// exponent at most `maximumRSAExponentBytes`: checked on the decoded bytes, before any parsing.
    static func checkRSASizes(modulus: [UInt8], exponent: [UInt8]) throws(JOSEError) {
        guard let first = modulus.firstIndex(where: { $0 != 0 }) else { throw JOSEError(.invalidKey, "RSA modulus is zero") }
        let bits = (modulus.count - first) * 8 - modulus[first].leadingZeroBitCount
        guard bits <= maximumRSABits else {
            throw JOSEError(.invalidKey, "RSA modulus of \(bits) bits; at most \(maximumRSABits) accepted")
        }
        guard bits >= minimumRSABits else {
            throw JOSEError(.weakKey, "RSA key of \(bits) bits; at least \(minimumRSABits) required")
        }
        let exponentBytes = exponent.drop { $0 == 0 }.count
        guard exponentBytes <= maximumRSAExponentBytes else {
            throw JOSEError(.invalidKey, "RSA public exponent of \(exponentBytes) bytes; at most \(maximumRSAExponentBytes) accepted")
        }
    }

    private static func fromData(
        type: String,
        isPrivate: Bool,
        _ fill: (ParameterBuilder) throws(JOSEError) -> Void
    ) throws(JOSEError) -> AsymmetricKey {
        let builder = try ParameterBuilder()
        try fill(builder)
        guard let params = OSSL_PARAM_BLD_to_param(builder.builder) else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "OSSL_PARAM_BLD_to_param")
        }
        defer { OSSL_PARAM_free(params) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer?
        let selection = isPrivate ? fapid_selection_keypair() : fapid_selection_public_key()
        guard EVP_PKEY_fromdata_init(context) == 1, EVP_PKEY_fromdata(context, &pkey, selection, params) == 1, let pkey else {
            throw OpenSSLErrorQueue.failure(.invalidKey, "\(type) JWK parameters rejected")
        }
        let key = try AsymmetricKey(taking: pkey, isPrivate: isPrivate)
        try key.check()
        return key
    }

    /// Public-key validation (point on curve, sane RSA modulus) and, for private keys, the pairwise check.
    private func check() throws(JOSEError) {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_PKEY_CTX_new_from_pkey")
        }
        defer { EVP_PKEY_CTX_free(context) }
        let ok = isPrivate ? EVP_PKEY_pairwise_check(context) : EVP_PKEY_public_check(context)
        guard ok == 1 else { throw OpenSSLErrorQueue.failure(.invalidKey, "key check failed") }
    }

    /// The JWK members of this key (RFC 7518 §6), public ones only unless `includePrivate`.
    func jwkMembers(includePrivate: Bool) throws(JOSEError) -> [String: JSON] {
        // A token's private half is not readable; its public half answers for the public members.
        if let publicHalf {
            guard !includePrivate else { throw JOSEError(.invalidKey, "the private key lives in a token and cannot be exported") }
            return try publicHalf.jwkMembers(includePrivate: false)
        }
        var members: [String: JSON] = [:]
        let withPrivate = includePrivate && isPrivate
        switch kind {
        case .rsa:
            members["kty"] = "RSA"
            members["n"] = .string(Base64URL.encode(try bigNumber("n")))
            members["e"] = .string(Base64URL.encode(try bigNumber("e")))
            if withPrivate {
                for (member, name) in [
                    ("d", "d"), ("p", "rsa-factor1"), ("q", "rsa-factor2"), ("dp", "rsa-exponent1"), ("dq", "rsa-exponent2"),
                    ("qi", "rsa-coefficient1"),
                ] {
                    members[member] = .string(Base64URL.encode(try bigNumber(name)))
                }
            }
        case .p256:
            members["kty"] = "EC"
            members["crv"] = "P-256"
            members["x"] = .string(Base64URL.encode(try bigNumber("qx", padTo: 32)))
            members["y"] = .string(Base64URL.encode(try bigNumber("qy", padTo: 32)))
            if withPrivate { members["d"] = .string(Base64URL.encode(try bigNumber("priv", padTo: 32))) }
        case .ed25519:
            members["kty"] = "OKP"
            members["crv"] = "Ed25519"
            members["x"] = .string(Base64URL.encode(try okpPublicBytes()))
            if withPrivate {
                var length = 32
                var d = [UInt8](repeating: 0, count: 32)
                guard EVP_PKEY_get_raw_private_key(pkey, &d, &length) == 1 else {
                    throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_PKEY_get_raw_private_key")
                }
                members["d"] = .string(Base64URL.encode(d))
            }
        }
        return members
    }

    fileprivate func okpPublicBytes() throws(JOSEError) -> [UInt8] {
        var length = 32
        var x = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_get_raw_public_key(pkey, &x, &length) == 1, length == 32 else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_PKEY_get_raw_public_key")
        }
        return x
    }

    private func bigNumber(_ name: String, padTo width: Int? = nil) throws(JOSEError) -> [UInt8] {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let bn else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_PKEY_get_bn_param(\(name))")
        }
        defer { BN_clear_free(bn) }
        let count = width ?? max(1, (Int(BN_num_bits(bn)) + 7) / 8)
        var out = [UInt8](repeating: 0, count: count)
        guard BN_bn2binpad(bn, &out, Int32(count)) == Int32(count) else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "BN_bn2binpad(\(name))")
        }
        return out
    }
}

/// Owns an `OSSL_PARAM_BLD` and the big numbers pushed into it until the parameters are built.
private final class ParameterBuilder {
    let builder: OpaquePointer
    private var numbers: [OpaquePointer] = []
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var buffers: [UnsafeMutableRawBufferPointer] = []

    init() throws(JOSEError) {
        guard let builder = OSSL_PARAM_BLD_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "OSSL_PARAM_BLD_new") }
        self.builder = builder
    }

    deinit {
        OSSL_PARAM_BLD_free(builder)
        numbers.forEach { BN_clear_free($0) }
        strings.forEach { free($0) }
        buffers.forEach { $0.deallocate() }
    }

    func pushBigNumber(_ name: String, _ bytes: [UInt8]) throws(JOSEError) {
        guard let bn = bytes.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32($0.count), nil) }) else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "BN_bin2bn")
        }
        numbers.append(bn)
        guard OSSL_PARAM_BLD_push_BN(builder, keyName(name), bn) == 1 else { throw OpenSSLErrorQueue.failure(.invalidKey, name) }
    }

    func pushString(_ name: String, _ value: String) throws(JOSEError) {
        let copy = strdup(value)!
        strings.append(copy)
        guard OSSL_PARAM_BLD_push_utf8_string(builder, keyName(name), copy, 0) == 1 else {
            throw OpenSSLErrorQueue.failure(.invalidKey, name)
        }
    }

    func pushOctets(_ name: String, _ bytes: [UInt8]) throws(JOSEError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        buffer.copyBytes(from: bytes)
        buffers.append(buffer)
        guard OSSL_PARAM_BLD_push_octet_string(builder, keyName(name), buffer.baseAddress, bytes.count) == 1 else {
            throw OpenSSLErrorQueue.failure(.invalidKey, name)
        }
    }

    /// The builder keeps the key pointer until `to_param`, so names live as long as the builder.
    private func keyName(_ name: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(name)!
        strings.append(copy)
        return copy
    }
}
