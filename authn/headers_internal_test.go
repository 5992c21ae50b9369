package authn

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
)

// TestSharedExtra: one extra header of one value decodes to a map shared by
// the requests that forward the same header and value, and only by them.
func TestSharedExtra(t *testing.T) {
	c := compileHeaders(NewRequestHeaderConfig(nil))
	decode := func(name, value string) map[string][]string {
		h := http.Header{name: {value}, "Accept": {"*/*"}}
		extra := c.decodeExtra(h)
		if _, left := h[name]; left {
			t.Fatalf("%s was not deleted", name)
		}
		return extra
	}
	a := decode("X-Remote-Extra-Scopes", "view")
	b := decode("X-Remote-Extra-Scopes", "view")
	if fmt.Sprint(a) != "map[scopes:[view]]" || reflect.ValueOf(a).Pointer() != reflect.ValueOf(b).Pointer() {
		t.Fatalf("got %v and %v; want one shared map[scopes:[view]]", a, b)
	}
	for _, other := range []map[string][]string{decode("X-Remote-Extra-Scopes", "edit"), decode("X-Remote-Extra-Scope", "view")} {
		if reflect.ValueOf(other).Pointer() == reflect.ValueOf(a).Pointer() {
			t.Fatalf("a different header or value got the map of scopes=view: %v", other)
		}
	}
	two := c.decodeExtra(http.Header{"X-Remote-Extra-A": {"1"}, "X-Remote-Extra-B": {"2", "3"}})
	if fmt.Sprint(two) != "map[a:[1] b:[2 3]]" {
		t.Fatalf("got %v; want map[a:[1] b:[2 3]]", two)
	}
}
