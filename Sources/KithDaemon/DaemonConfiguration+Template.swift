/// The commented config file `kith init` writes into a new node
/// directory; the same text as `config/kith.example.yaml` (a test keeps
/// them equal).
extension DaemonConfiguration {
    public static let template = """
        # Kith node config: kith.yaml in the node directory (`kith init` writes this
        # file there). `kith daemon --home DIR` reads it at start; see README.md.
        #
        # Every key is optional: the value shown is its default. Every key can be
        # overridden from the environment: KITH_ then the key in upper case with
        # dots as underscores, e.g. sync.interval is KITH_SYNC_INTERVAL and
        # outbox.max_age_days is KITH_OUTBOX_MAX_AGE_DAYS. An unknown key, a value of
        # the wrong type or out of range stops the daemon with an error that names
        # the key and this file. Relative paths are relative to the node directory.
        # Other KITH_ variables (KITH_HOME, KITH_ALLOW_LOCAL_RELAYS) are not keys
        # and are left alone.

        # A file whose first line is the keystore passphrase, so the daemon can start
        # unattended. It must be yours and mode 0600. Without it the daemon uses
        # KITH_PASSPHRASE, else asks on the terminal. The passphrase itself never
        # goes in this file.
        # passphrase_file: passphrase

        log:
          # trace, debug, info, notice, warning, error or critical.
          level: info
          # stderr, stdout, or a file the log is appended to. Logs never hold post
          # text, names, tokens or keys: only relays, counts and errors.
          destination: stderr

        sync:
          # Seconds between two syncs (deliver what is queued, fetch what is new),
          # 5 to 86400. The daemon also syncs at once after a post made through it,
          # when `kith sync` asks, and when a relay says mail has arrived (its long
          # poll for mail, held open on each of your relays).
          interval: 60
          # Deliver a post made through the daemon at once (false: at the next sync).
          after_post: true

        relays:
          # How the daemon treats the relays your mailboxes are on. Which relays those
          # are is kept in the node database (`kith init --relay URL`), not here.
          # Seconds each relay gets in one sync for its deliveries, and again for
          # its fetch, 5 to 600. A dead relay costs this much, never more.
          timeout: 60
          # The most envelopes asked for in one fetch request, 1 to 10000.
          fetch_limit: 500

        outbox:
          # After a failed delivery, wait this many seconds (1 to 3600), doubling at
          # each failure up to retry_longest (1 to 86400), each wait with jitter
          # (times 0.5 to 1).
          retry_first: 5
          retry_longest: 3600
          # Days a delivery is retried, 1 to 3650. Then it is given up: marked
          # expired, logged and counted in `kith status`, never dropped silently.
          max_age_days: 30

        attachments:
          # When friends' photos and files are fetched: background (by each sync,
          # after their thumbnails) or on-demand (only by `kith photo get`).
          # Thumbnails always come with the sync.
          fetch: background

        keys:
          # Replace the encryption key every rotation_days (1 to 365) and keep an
          # old secret grace_days (1 to 90) after it expires. When unset, the
          # schedule set with `kith key schedule` is kept (7 and 14 by default);
          # when set, the daemon sets the schedule to it at start.
          # rotation_days: 7
          # grace_days: 14

        control:
          # The Unix socket through which the command line (post, feed, sync, status,
          # friend, group, key and relay commands) uses the running daemon. It is
          # created mode 0600 in the node directory (0700), and the daemon serves
          # only connections from processes of its own user.
          socket: daemon.sock

        web:
          # The local web app, for you only: `kith open` prints a one-time link
          # that signs a browser in. false turns it off.
          enabled: true
          # 127.0.0.1:PORT or [::1]:PORT (no name: localhost is refused); port 0 picks a
          # free one. If the port is taken, the daemon runs without the web app.
          listen: 127.0.0.1:8484

        relay:
          # Also serve as a relay, in the same process.
          enabled: false
          # The relay's directory (its database is relay.sqlite there).
          home: relay
          # host:port the relay listens on; port 0 picks a free one.
          listen: 127.0.0.1:8080
          # The relay's own JSON config file for its policy (registration, quotas,
          # rate limits, time to live; see config/README.md). Unset: the defaults.
          # config: relay.json
        """
}
