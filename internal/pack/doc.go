// Package pack gathers sealed chunks into packs and keeps the index that
// says which pack holds each chunk.
//
// A pack is one immutable object, named by the SHA-256 of its bytes:
//
//	header   "DVPC" version kind(3)                      6 bytes
//	gen      key generation of its keys, uint32 BE       4 bytes
//	blobs    sealed chunk 0 || sealed chunk 1 || ...
//	trailer  seal(meta, pack header, ad = "dvpc pack header")
//	length   uint32 BE, the length of the sealed trailer
//
// A sealed chunk is seal(data, body, ad = "dvpc chunk" || chunk id), where
// body is a one-byte compression tag (0 none, 1 zstd) followed by the
// (compressed) plaintext. After opening, the reader checks that the keyed
// hash of the plaintext is the chunk id, so a chunk is verified end to end.
//
// The pack header (and each pack's part of an index object) lists the
// chunks: count (uvarint), then per chunk: id (32 bytes), offset (uvarint),
// sealed length (uvarint), plaintext length (uvarint).
//
// An index object is seal(meta, body, ad = "dvpc index") after the common
// header (kind 4) and its key generation (uint32 BE); its body is: pack
// count (uvarint), then per pack: pack id (32 bytes), the pack's key
// generation (uvarint) and the pack header's chunk list. Index objects are named by
// the SHA-256 of their bytes. The union of all index objects is the index;
// it can be rebuilt from the packs' own headers.
//
// The package never sees file names or the tree, and never returns chunk
// bytes that did not verify.
package pack
