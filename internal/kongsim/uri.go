package kongsim

import (
	"strconv"
	"strings"
)

// reservedURIChars is kong/tools/uri.lua RESERVED_CHARS: percent-encoded
// triplets of these stay encoded (hex uppercased) when normalizing.
const reservedURIChars = "!*'();:@&=+$,/?%#[]"

// normalizeURIPath is kong/tools/uri.lua normalize(uri, merge_slashes),
// which kong.request.get_path applies to the raw path: decode
// percent-encoded non-reserved characters, uppercase the hex of reserved
// ones, remove dot segments and (with mergeSlashes) merge duplicate
// slashes.
func normalizeURIPath(uri string, mergeSlashes bool) string {
	if uri == "" || uri == "/" {
		return uri
	}
	if strings.Contains(uri, "%") {
		var b strings.Builder
		for i := 0; i < len(uri); i++ {
			if uri[i] == '%' && i+2 < len(uri) && isLuaXDigit(uri[i+1]) && isLuaXDigit(uri[i+2]) {
				n, _ := strconv.ParseUint(uri[i+1:i+3], 16, 8)
				if strings.IndexByte(reservedURIChars, byte(n)) < 0 {
					b.WriteByte(byte(n))
				} else {
					b.WriteString(strings.ToUpper(uri[i : i+3]))
				}
				i += 2
				continue
			}
			b.WriteByte(uri[i])
		}
		uri = b.String()
	}
	if !strings.Contains(uri, ".") {
		if !mergeSlashes || !strings.Contains(uri, "//") {
			return uri
		}
	}
	var out []string
	for len(uri) > 0 {
		switch {
		case uri == "/.":
			uri = "/"
		case uri == "/..":
			uri = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case uri == "." || uri == "..":
			uri = ""
		case strings.HasPrefix(uri, "../"):
			uri = uri[3:]
		case strings.HasPrefix(uri, "./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/../"):
			uri = uri[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case mergeSlashes && strings.HasPrefix(uri, "//"):
			uri = uri[1:]
		default:
			if i := strings.IndexByte(uri[1:], '/'); i >= 0 {
				out = append(out, uri[:i+1])
				uri = uri[i+1:]
			} else {
				out = append(out, uri)
				uri = ""
			}
		}
	}
	return strings.Join(out, "")
}
