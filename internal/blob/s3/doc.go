// Package s3 is the mirror kind s3: a blob.Store on a bucket of any
// S3-compatible object store (AWS S3, MinIO, Ceph RGW, Garage, versitygw,
// ...), reached through a client of its own (client.go: the six calls
// it makes, signed with AWS Signature V4 in sign.go). Its location is
// s3://HOST[:PORT]/BUCKET[/PREFIX] (plain HTTP) or s3s://... (HTTPS); see
// Parse. It owns the mapping between mirror names and S3 keys, and between
// S3's errors and DVPC's kinds; it must never interpret the bytes it holds
// nor hold a key other than the store's own access credentials.
//
// The mapping: the object name N is the key PREFIX/N; Put is one PUT
// Object, Get and ReadAt a GET with a Range, Stat a HEAD, List a
// ListObjectsV2 walk over PREFIX/, Delete a DELETE Object. Errors become
// kinds: NoSuchKey and NoSuchBucket NotExist; AccessDenied,
// InvalidAccessKeyId, SignatureDoesNotMatch and expired tokens Permission,
// with a message naming the variables to set; a failure to connect, 5xx,
// SlowDown and other throttling Unavailable (after retries); quotas and
// full disks Full; EntityTooLarge and other refusals of the request
// Invalid; a body that fails the server's digest check Corrupt.
//
// What it guarantees:
//   - Puts are atomic by S3's semantics: a single PUT becomes visible whole
//     or not at all, and a PUT the server acknowledged is durable by the
//     provider's own promise. Objects are limited to 5 GiB (one PUT).
//   - A name that promises its SHA-256 (blob.Sum) is checked before a byte
//     is sent, so a wrong object is never stored; every PUT is signed with
//     the SHA-256 of its body (AWS Signature V4), which the server checks
//     before it stores the object.
//   - Idempotent requests are retried a bounded number of times on
//     transient failures (no answer, 429, 5xx, SlowDown and the like; a
//     body cut short; a listing that broke, resumed with start-after), and
//     stop when the context is done. Puts are retried too: on S3 the last
//     PUT of a name wins, so repeating the same PUT is harmless.
//   - A listing comes in order, each key once, and ends: a service that
//     repeats a key, goes back, or answers page after page without a key
//     fails the listing (IO), and one whose context ends mid-way returns
//     that error, never a short listing as if whole.
//
// Addressing: the bucket goes in the path (path style), which every
// S3-compatible store takes for any bucket name, except on AWS's
// endpoints (*.amazonaws.com), which want it in the host name (virtual
// host style) when the name has no dot. With no region in the location,
// requests are signed for us-east-1, and for the region AWS names in its
// answer (x-amz-bucket-region) when the bucket is elsewhere. Redirects are
// not followed.
//
// What S3 cannot promise: AWS S3 is strongly consistent since 2020, but
// some S3-compatible providers list new or deleted objects late (eventual
// consistency of listings), or let concurrent writers of one name race
// with no winner defined. DVPC writes most names once and names data by
// its hash, which makes either harmless; callers that list right after a
// put must not rely on seeing it everywhere.
package s3
