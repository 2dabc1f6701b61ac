// Package journal owns each device's log of changes: entries, their hybrid
// logical clock, and the segments that carry them to mirrors, sealed,
// signed and hash-chained.
//
// A segment is one immutable object named
// "journal/<device id>/<seq, 16 hex digits>-<SHA-256 of its bytes>":
//
//	header     "DVPC" version kind(5)                6 bytes
//	gen        key generation, uint32 BE              4 bytes
//	device     device id                             16 bytes
//	seq        uint64 BE, 1 for a device's first     8 bytes
//	prev       SHA-256 of the device's segment seq-1 32 bytes (zero for seq 1)
//	sealed     seal(meta, body, ad = "dvpc segment" || the 66 bytes above)
//	signature  Ed25519 by the device's key over every byte before it, 64 bytes
//
// The body is a compression tag (0 none, 1 zstd) followed by the (compressed)
// entry list: count (uvarint), then each entry:
//
//	time     uint64 BE, hybrid logical clock (see HLC)
//	op       1 byte: 1 put, 2 mkdir, 3 symlink, 4 delete
//	path     uvarint length, bytes (a clean absolute path, see CleanPath)
//	base     1 byte flag; if 1: device (16) and time (uint64 BE) of the
//	         version of path the writer saw when it made the change
//	mode     uvarint (permission bits)
//	mtime    varint (nanoseconds since 1970)
//	size     uvarint
//	target   uvarint length, bytes (symlink target; empty otherwise)
//	chunks   uvarint count, then per chunk: id (32 bytes), length (uvarint)
//
// A reader accepts a device's segments only as an unbroken chain from seq 1,
// each signed by the device's key, so a mirror can neither forge, reorder,
// nor silently drop a segment inside the chain; it can only withhold the
// newest ones, which a device notices against its own record.
//
// The package never decides what entries mean for the tree; that is the
// volume's merge.
package journal
