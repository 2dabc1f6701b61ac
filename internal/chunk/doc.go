// Package chunk cuts file contents into chunks at content-defined points
// and names each chunk by a keyed hash. It owns the cut points, the gear
// table, the chunk size Params and the chunk id function; all of them are
// part of the on-mirror format, written down below.
//
// It must never see any key but the two it is given, a volume's gear key
// and its chunk-id key; never do I/O beyond reading the reader it is handed;
// never keep a chunk past the next call; and never encrypt, compress, store
// or log anything. Sealing chunks and hiding their lengths belong to seal
// and pack.
//
// # Chunking, format version 1
//
// The algorithm is FastCDC (Xia et al., USENIX ATC 2016 and IEEE TPDS 2020)
// with cut-point skipping and normalized chunking at level 2, using a 64-bit
// gear hash whose table is derived from the volume's gear key.
//
// The gear table G[0..255] of a 32-byte gear key K: take the first 2048
// bytes of the BLAKE3 extendable output, in keyed mode with key K, of the
// 24-byte ASCII message "dvpc chunk gear table v1"; G[i] is bytes 8i to
// 8i+7 read as a little-endian uint64.
//
// The masks of Params{Min, Avg, Max}: with b = log2(Avg), MaskS is the
// uint64 whose b+2 most significant bits are set and the rest clear, MaskL
// the one whose b-2 most significant bits are set. For the default Params
// (b = 20) MaskS = 0xfffffc0000000000 and MaskL = 0xffffc00000000000.
//
// The first chunk of a byte string D of length n, all arithmetic on
// uint64 modulo 2^64:
//
//	if n <= Min: the chunk is D
//	fp = 0
//	for i = Min, Min+1, ..., min(n, Max)-1:
//		fp = (fp << 1) + G[D[i]]
//		mask = MaskS if i < Avg, else MaskL
//		if fp & mask == 0: the chunk is D[0:i+1]; stop
//	if no cut was found: the chunk is D[0:min(n, Max)]
//
// A stream is cut by taking the first chunk of what remains, until nothing
// does. The first Min bytes of a chunk are never hashed and the hash starts
// from zero in every chunk, so a chunk's end depends only on the bytes from
// its start to at most Max bytes on: cutting a whole file in memory with Cut
// and reading it through a Chunker give the same chunks. Every chunk is
// Min to Max bytes long but the last of a stream, which is 1 to Max bytes.
// On random data the mean chunk is about 1.14·Avg (1.1 to 1.15 measured).
//
// Params are valid when 64 ≤ Min ≤ Avg ≤ Max ≤ 64 MiB and Avg is a power of
// two. The default is Min 512 KiB, Avg 1 MiB, Max 2 MiB: a narrow spread
// around 1 MiB, so that a change in a large file costs about one average
// chunk (measured in docs/PERFORMANCE.md).
//
// # Chunk ids
//
// The id of a chunk is the 32-byte BLAKE3 hash of its bytes in keyed mode
// with the volume's 32-byte chunk-id key.
//
// # Test vectors
//
// Gear key K = 00 01 02 .. 1f, chunk-id key 20 21 22 .. 3f. Input: the
// first bytes of the unkeyed BLAKE3 extendable output of the ASCII message
// "dvpc chunk test vector".
//
//	G[0]   = 0x4530adb5ed9a7ecd
//	G[1]   = 0x97535d3b91097651
//	G[255] = 0x94c2f4e4c85c030e
//
// The first 16 MiB with the default Params give 14 chunks of lengths
//
//	2044155 748807 1221032 1036258 1365105 1131928 1091544 1289266
//	1075350 1361276 1453315 1608565 1277945 72670
//
// and the SHA-256 of their 14 ids concatenated is
// ba7a2bb3b93eec26b824d299f7474d4166731ebd9c2d5362f4dd6f06800cf017.
//
// The first 1 MiB with Params{Min: 2048, Avg: 8192, Max: 32768} gives 115
// chunks, beginning 9122 2108 8662 4454, and the SHA-256 of their ids
// concatenated is
// 42468ec36a559207adf9910a10173cc84ec7ad201e1bb84a6d3aa3ba245e6151.
//
// # What the keyed table hides, and what it does not
//
// The lengths of chunks fingerprint their contents: with a public table,
// anyone who sees the lengths of a volume's sealed chunks can tell whether
// it holds a file they also have. Deriving the table from a secret key
// makes the cut points unpredictable to whoever lacks the key. Following
// Truong, Merz, Scarlata, Günther and Paterson, "Breaking and Fixing
// Content-Defined Chunking" (ACM CCS 2025, ePrint 2025/558), this package
// does what is cheap: the whole table comes from a 256-bit key through a
// PRF (not a short seed mixed into a fixed table, which adds little); the
// hash and table are 64 bits wide; and the masks test the high bits, so each
// test covers the full 64-byte window of the hash.
//
// It does not key the boundary condition. A keyed target for the masked
// bits adds nothing: past 64 bytes the hash is a sum of 64 table entries, so
// shifting the target is the same as shifting every entry, and the table is
// already random. Keyed mask positions add some tens of bits that can be
// enumerated, for a more complex format.
//
// That paper also shows that cutting directly on the bits of a keyed
// rolling hash remains weak: an attacker who sees the chunk lengths of data
// it knows or chose can learn enough about the secret to predict cuts. Its
// provably secure fix, a universal hash with a PRF such as AES applied at
// every byte position before the cut test, costs a block cipher call per
// byte; it is a candidate for a later format version, not this one. Until
// then the exact chunk lengths must not reach a mirror: seal and pack are
// responsible for padding sealed chunks and keeping lengths inside encrypted
// pack headers.
package chunk
