internal import COpenSSL

/// AES-256-GCM through OpenSSL, for secrets kept at rest (the server's signing keys in a shared database).
/// A sealed box is `nonce (12) ‖ ciphertext ‖ tag (16)`; the additional data binds it to its place (a kid),
/// so a box moved to another row does not open.
public enum SealedBox {
    public static let keyLength = 32
    static let nonceLength = 12
    static let tagLength = 16

    nonisolated(unsafe) static let cipher: OpaquePointer = {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil) else { fatalError("OpenSSL has no AES-256-GCM: \(OpenSSLErrorQueue.drain())") }
        return cipher
    }()

    public static func seal(_ plaintext: [UInt8], key: [UInt8], additionalData: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard key.count == keyLength else { throw CryptoError(.invalidKey, "the key encryption key must be 32 bytes") }
        let nonce = Crypto.randomBytes(nonceLength)
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var tag = [UInt8](repeating: 0, count: tagLength)
        var length: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex2(context, cipher, key, nonce, nil) == 1,
            additionalData.isEmpty || EVP_EncryptUpdate(context, nil, &length, additionalData, Int32(additionalData.count)) == 1
        else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_EncryptInit_ex2") }
        let updated = ciphertext.withUnsafeMutableBufferPointer { out in
            EVP_EncryptUpdate(context, out.baseAddress, &length, plaintext, Int32(plaintext.count))
        }
        guard updated == 1 else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_EncryptUpdate") }
        total = Int(length)
        let finished = ciphertext.withUnsafeMutableBufferPointer { out in EVP_EncryptFinal_ex(context, out.baseAddress! + total, &length) }
        guard finished == 1 else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_EncryptFinal_ex") }
        total += Int(length)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagLength), &tag) == 1 else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_CTRL_GCM_GET_TAG")
        }
        return nonce + ciphertext[..<total] + tag
    }

    /// The plaintext, or an error when the box was altered, was sealed for other additional data, or under
    /// another key (the tag is checked by OpenSSL before any plaintext is returned).
    public static func open(_ box: [UInt8], key: [UInt8], additionalData: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard key.count == keyLength else { throw CryptoError(.invalidKey, "the key encryption key must be 32 bytes") }
        guard box.count >= nonceLength + tagLength else { throw CryptoError(.malformed, "sealed box too short") }
        let nonce = Array(box[..<nonceLength])
        let ciphertext = Array(box[nonceLength..<(box.count - tagLength)])
        var tag = Array(box[(box.count - tagLength)...])
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var length: Int32 = 0
        guard EVP_DecryptInit_ex2(context, cipher, key, nonce, nil) == 1,
            additionalData.isEmpty || EVP_DecryptUpdate(context, nil, &length, additionalData, Int32(additionalData.count)) == 1
        else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_DecryptInit_ex2") }
        let updated = plaintext.withUnsafeMutableBufferPointer { out in
            EVP_DecryptUpdate(context, out.baseAddress, &length, ciphertext, Int32(ciphertext.count))
        }
        guard updated == 1 else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_DecryptUpdate") }
        let total = Int(length)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagLength), &tag) == 1 else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_CTRL_GCM_SET_TAG")
        }
        let finished = plaintext.withUnsafeMutableBufferPointer { out in EVP_DecryptFinal_ex(context, out.baseAddress! + total, &length) }
        _ = OpenSSLErrorQueue.drain()
        guard finished == 1 else { throw CryptoError(.invalidSignature, "sealed box does not open: wrong key, or altered") }
        return Array(plaintext[..<(total + Int(length))])
    }
}
