internal import COpenSSL

/// OpenSSL reports failures on a thread-local queue; every failed call drains it so the next call starts clean.
package enum OpenSSLErrorQueue {
    /// Drains the queue and returns its entries joined, for a log detail.
    package static func drain() -> String {
        var messages: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(nulTerminated: buffer))
        }
        return messages.isEmpty ? "no OpenSSL error recorded" : messages.joined(separator: "; ")
    }

    package static func clear() {
        ERR_clear_error()
    }

    package static func failure(_ code: CryptoError.Code, _ what: String) -> CryptoError {
        CryptoError(code, "\(what): \(drain())")
    }
}
