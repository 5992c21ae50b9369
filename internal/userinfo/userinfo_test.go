package userinfo

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"
)

func TestAddExtraSortsAndMerges(t *testing.T) {
	u := &Info{Name: "alice"}
	require.Nil(t, u.GetExtra(), "no extra is a nil map, as user.DefaultInfo's")
	header := []string{"1"}
	u.AddExtra("b", header[:1:1])
	u.AddExtra("a", nil)
	u.AddExtra("b", []string{"2"})
	require.Equal(t, []Pair{{Key: "a"}, {Key: "b", Values: []string{"1", "2"}}}, u.Pairs)
	require.Equal(t, []string{"1"}, header, "a clipped value list is copied, not appended to")
	require.Equal(t, map[string][]string{"a": nil, "b": {"1", "2"}}, u.GetExtra())
}

// TestGetExtraIsOneMap: concurrent first calls all get the same map, and the
// map is the user's own (race detector: no write after publication).
func TestGetExtraIsOneMap(t *testing.T) {
	u := &Info{Name: "alice"}
	u.AddExtra("k", []string{"v"})
	var wg sync.WaitGroup
	maps := make([]map[string][]string, 8)
	for i := range maps {
		wg.Go(func() { maps[i] = u.GetExtra() })
	}
	wg.Wait()
	for _, m := range maps {
		m["k"] = append(m["k"], "seen") // the same map: each sees the others' writes
	}
	require.Equal(t, []string{"v", "seen", "seen", "seen", "seen", "seen", "seen", "seen", "seen"}, u.GetExtra()["k"])
	other := &Info{Name: "bob"}
	other.AddExtra("k", []string{"v"})
	require.Equal(t, []string{"v"}, other.GetExtra()["k"], "another user's map is its own")
}

func TestMarshalJSONAsDefaultInfo(t *testing.T) {
	u := &Info{Name: "alice", UID: "1", Groups: []string{"g"}}
	u.AddExtra("k", []string{"v"})
	got, err := json.Marshal(u)
	require.NoError(t, err)
	want, err := json.Marshal(&user.DefaultInfo{Name: "alice", UID: "1", Groups: []string{"g"}, Extra: map[string][]string{"k": {"v"}}})
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
}
