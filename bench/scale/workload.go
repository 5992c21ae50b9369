//go:build scale

package scale

import (
	"fmt"
	"hash/fnv"
	"math/rand"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// workload draws the requests of a cluster's users:
//
//   - the user is Zipf-distributed (s = 1.1) over users: a few are busy
//     (controllers, CI), most are not;
//   - each user has a home namespace (by hash); 90% of a user's requests go
//     there, the rest to a namespace Zipf-distributed over namespaces;
//   - the resource is one of 4, Zipf-distributed (s = 2);
//   - the verb is list (60%), get of one of 10 objects named by Zipf (s = 2,
//     20%), watch (15%) or create (5%).
//
// Each request carries what kube-apiserver's aggregator forwards: the user,
// two groups and the credential-id extra.
type workload struct {
	users, namespaces int
	rng               *rand.Rand
	user, ns, name    *rand.Zipf
	resource          *rand.Zipf
	userInfos         map[int]*user.DefaultInfo
}

var resources = []string{"widgets", "gadgets", "gizmos", "sprockets"}

const objectsPerNamespace = 10

func newWorkload(users, namespaces int, seed int64) *workload {
	rng := rand.New(rand.NewSource(seed))
	return &workload{
		users: users, namespaces: namespaces, rng: rng,
		user:      rand.NewZipf(rng, 1.1, 1, uint64(users-1)),
		ns:        rand.NewZipf(rng, 1.1, 1, uint64(namespaces-1)),
		name:      rand.NewZipf(rng, 2, 1, objectsPerNamespace-1),
		resource:  rand.NewZipf(rng, 2, 1, uint64(len(resources)-1)),
		userInfos: map[int]*user.DefaultInfo{},
	}
}

// next returns the attributes of the next request.
func (w *workload) next() *authorizer.AttributesRecord {
	u := int(w.user.Uint64())
	info := w.userInfos[u]
	if info == nil {
		info = &user.DefaultInfo{
			Name: fmt.Sprintf("user-%d@example.com", u), Groups: []string{"developers", user.AllAuthenticated},
			Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {fmt.Sprintf("JTI=%08x-1b3d-4e5f-8a9b-0c1d2e3f4a5b", u)}},
		}
		w.userInfos[u] = info
	}
	ns := home(u, w.namespaces)
	if w.rng.Float64() >= 0.9 {
		ns = int(w.ns.Uint64())
	}
	a := &authorizer.AttributesRecord{
		User: info, Namespace: fmt.Sprintf("team-%d", ns), APIGroup: "widgets.example.com", APIVersion: "v1",
		Resource: resources[w.resource.Uint64()], ResourceRequest: true,
	}
	switch p := w.rng.Float64(); {
	case p < 0.6:
		a.Verb = "list"
	case p < 0.8:
		a.Verb, a.Name = "get", fmt.Sprintf("object-%d", w.name.Uint64())
	case p < 0.95:
		a.Verb = "watch"
	default:
		a.Verb = "create"
	}
	a.Path = "/apis/widgets.example.com/v1/namespaces/" + a.Namespace + "/" + a.Resource
	if a.Name != "" {
		a.Path += "/" + a.Name
	}
	return a
}

func home(u, namespaces int) int {
	h := fnv.New32a()
	fmt.Fprint(h, u)
	return int(h.Sum32() % uint32(namespaces))
}
