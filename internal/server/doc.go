// Package server is `dvpc serve`: a mirror over HTTP for many accounts,
// speaking the protocol in docs/PROTOCOL.md. It owns accounts and their
// devices (sign-up, login, recovery, TOTP, tokens), who may touch which
// objects, quotas and usage, change notifications, the grace period of
// deleted volumes, and the limits that keep one client from exhausting the
// server.
//
// Each account's objects are a folder mirror (internal/blob/dir) in
// DATA/accounts/<account id>/; metadata is in DATA/meta.db
// (internal/server/meta); a self-signed certificate, when one is made, is
// in DATA/tls/.
//
// It is the project's security boundary, and trusts nothing a client
// sends: every field, name, header and length is checked before use, and
// per-request memory is bounded. It stores only what clients give it: it
// never holds a key or a plaintext byte, never logs a secret (tokens, auth
// keys, envelopes, TOTP codes), and never lets one account name, read or
// change another's objects — the account of a request is its token's,
// never a name in the path.
package server
