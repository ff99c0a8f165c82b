/// Why the web app cannot do something, for `kith open` and the log.
public struct WebError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let hint: String?

    public init(_ description: String, hint: String? = nil) {
        self.description = description
        self.hint = hint
    }
}
