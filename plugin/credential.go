package plugin

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// credentialKey is the cache key of a credential in a scope:
// scope ‖ SHA-256(encoding), where the encoding names each part (kind and
// length before the bytes), so that "Authorization: s=S" and
// "Cookie: s=S" or two splits of one string never hash alike. The raw
// credential is never a key and never stored.
func credentialKey(sc scope, c credential) string {
	var buf [512]byte
	b := buf[:0] // no heap copy for ordinary credentials
	b = appendPart(b, 'A', c.authorization)
	b = appendPart(b, 'C', c.cookie)
	sum := sha256.Sum256(b)
	var k [scopeLen + sha256.Size]byte
	copy(k[:scopeLen], sc.id)
	copy(k[scopeLen:], sum[:])
	return string(k[:])
}

func appendPart(b []byte, kind byte, v string) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// credentialParts are the SHA-256 hashes a revocation may name for c: the
// Authorization value exactly as sent, and each forwarded session cookie as
// "name=value". A revocation of any part drops every entry whose
// credential contains it (a token cached together with a session cookie
// included).
func credentialParts(c credential) [][sha256.Size]byte {
	var parts [][sha256.Size]byte
	if c.authorization != "" {
		parts = append(parts, sha256.Sum256([]byte(c.authorization)))
	}
	if c.cookie != "" {
		for _, pair := range strings.Split(c.cookie, "; ") {
			parts = append(parts, sha256.Sum256([]byte(pair)))
		}
	}
	return parts
}
