extension String {
    /// The text of a C buffer OpenSSL or libc filled: the bytes up to the first NUL (all of them when there is
    /// none), as UTF-8 (`String(cString:)` of an array is deprecated).
    public init(nulTerminated buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
