import NIOCore

/// Closes a connection whose peer stops reading: when the channel has been
/// unwritable (more than NIO's high-water mark of answer bytes waiting for the
/// socket) for `timeout`, the connection is closed, which fails the pending
/// write and ends the handler. Hummingbird's idle timeout does not cover this
/// case: it never fires while an answer is being written.
final class WriteTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            cancel()
        } else if scheduled == nil {
            scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                self?.scheduled = nil
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancel() }

    private func cancel() {
        scheduled?.cancel()
        scheduled = nil
    }
}
