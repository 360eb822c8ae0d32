package gateway

import (
	"crypto/sha1"
	"fmt"
	"strings"
)

// stableID derives a UUID (version 5 layout) from parts. Kong gives every
// entity a UUID, and the plugin server keys plugin instances by the plugin
// id; deriving ids from names (not from random or file position) keeps them
// identical across gateway restarts and harmless edits of the file, like
// the ids of a real Kong database.
func stableID(parts ...string) string {
	h := sha1.Sum([]byte("legacy-gateway\x00" + strings.Join(parts, "\x00")))
	h[6] = (h[6] & 0x0f) | 0x50 // version 5
	h[8] = (h[8] & 0x3f) | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// identity is how an entity is named in ids and messages: by name when it
// has one, else by its position in the file.
func identity(name, where string) string {
	if name != "" {
		return "name=" + name
	}
	return "at=" + where
}
