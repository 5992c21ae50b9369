package reqattr

import (
	"hash/maphash"
	"net/url"
	"strings"
	"sync/atomic"
)

// Decoded query values are remembered in a small table: clients list and
// watch with the same few selectors over and over (a controller's informer
// sends one selector all its life), and decoding one allocates. The table is
// fixed in size and in the length of what it holds, so whoever fills it only
// evicts values (costing the next request one decoding), never grows memory.
const (
	unescapeSlots    = 64
	maxUnescapedKept = 512 // bytes of an escaped value remembered, at most
)

type unescaped struct{ raw, value string }

var (
	unescapeSeed  = maphash.MakeSeed()
	unescapeTable [unescapeSlots]atomic.Pointer[unescaped]
)

// queryUnescape is url.QueryUnescape(s), remembered for escaped values of up
// to maxUnescapedKept bytes.
func queryUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil // url.QueryUnescape returns s itself
	}
	if len(s) > maxUnescapedKept {
		return url.QueryUnescape(s)
	}
	slot := &unescapeTable[maphash.String(unescapeSeed, s)%unescapeSlots]
	if e := slot.Load(); e != nil && e.raw == s {
		return e.value, nil
	}
	v, err := url.QueryUnescape(s)
	if err == nil {
		slot.Store(&unescaped{raw: strings.Clone(s), value: v})
	}
	return v, err
}
