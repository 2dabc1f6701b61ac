// Package remote is the client of a `dvpc serve` server: the account
// routes (sign-up, login, devices, TOTP, change notifications) and the
// mirror kind `http`, a blob.Store kept on the server. It speaks protocol
// version 1, written down in docs/PROTOCOL.md.
//
// It owns the wire: URLs, JSON bodies, headers, the mapping of the
// protocol's error codes to errors.Kind, TLS certificate pinning and
// retries. It must never see a key, a passphrase or a plaintext byte (the
// caller derives what it sends), never interpret the bytes of an object,
// never retry a request whose repetition could change the outcome, and
// never hold an object it streams in memory twice.
//
// A Client is safe for concurrent use; many requests share its pool of
// connections.
package remote
