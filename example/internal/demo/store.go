package demo

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/aggauth/aggauth/objects"
	"github.com/aggauth/aggauth/requestinfo"
)

// Store keeps Widgets in memory, as kube-apiserver keeps objects in etcd:
// each change gets the next resourceVersion (an increasing decimal integer,
// as etcd's revisions) and is emitted, under the store's lock, to the
// objects.Broadcaster that watches are served from. It is safe for
// concurrent use; it hands out copies, never the stored objects.
type Store struct {
	mu sync.RWMutex // guards the fields below
	// widgets is namespace -> name -> widget. A stored widget is never
	// changed: each change stores a new one, which the watchers share.
	widgets map[string]map[string]*Widget
	rv      uint64 // of the last change
	events  *objects.Broadcaster[*Widget]
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		widgets: make(map[string]map[string]*Widget),
		events:  objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{}),
	}
}

// Watch starts a watch of the widgets opts selects: the Store is the
// objects.Source that objects.ServeWatch serves ?watch=true from.
func (s *Store) Watch(ctx context.Context, opts objects.WatchOptions) (<-chan objects.Event, error) {
	return s.events.Watch(ctx, opts)
}

// commit stores w as the new state of its namespace and name, or removes it
// for watch.Deleted, with the next resourceVersion, emits the change to the
// watches and returns a copy. w must not be changed afterwards. Call it with
// s.mu held.
func (s *Store) commit(typ watch.EventType, w *Widget) *Widget {
	s.rv++
	w.ResourceVersion = strconv.FormatUint(s.rv, 10)
	ns := s.widgets[w.Namespace]
	switch {
	case typ == watch.Deleted:
		delete(ns, w.Name)
	case ns == nil:
		s.widgets[w.Namespace] = map[string]*Widget{w.Name: w}
	default:
		ns[w.Name] = w
	}
	if err := s.events.Emit(typ, w); err != nil {
		panic(err) // a programmer's error: resourceVersions out of order
	}
	return w.DeepCopy()
}

// Create stores a copy of in in namespace, created by caller, and returns
// it, as kube-apiserver creates an object: the store sets the uid,
// resourceVersion, creationTimestamp, generation 1, apiVersion, kind and
// status, and the name from generateName when name is empty; the rest of the
// metadata (labels, annotations, ownerReferences, finalizers) is kept,
// validated as Kubernetes validates it (Validate). The error is a BadRequest
// when in names another namespace, Invalid (422), or AlreadyExists.
func (s *Store) Create(namespace string, in *Widget, caller user.Info) (*Widget, error) {
	if in.Namespace != "" && in.Namespace != namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	w := in.DeepCopy()
	w.TypeMeta = metav1.TypeMeta{APIVersion: GroupVersion, Kind: Kind}
	w.Namespace, w.UID, w.CreationTimestamp, w.Generation = namespace, uuid.NewUUID(), metav1.Now(), 1
	w.ResourceVersion, w.DeletionTimestamp, w.DeletionGracePeriodSeconds = "", nil, nil
	if w.Name == "" && w.GenerateName != "" {
		w.Name = names.SimpleNameGenerator.GenerateName(w.GenerateName) // as kube-apiserver: a prefix and 5 random characters
	}
	w.Status = WidgetStatus{CreatedBy: UserInfo(caller)}
	if err := Validate(w, nil); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.widgets[namespace][w.Name]; ok {
		return nil, apierrors.NewAlreadyExists(GroupResource, w.Name)
	}
	return s.commit(watch.Added, w), nil
}

// Get returns the Widget namespace/name, or a NotFound error.
func (s *Store) Get(namespace, name string) (*Widget, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	w, ok := s.widgets[namespace][name]
	if !ok {
		return nil, apierrors.NewNotFound(GroupResource, name)
	}
	return w.DeepCopy(), nil
}

// List returns the Widgets of namespace (of every namespace when it is empty)
// that sel selects, sorted by namespace and name, with the resourceVersion of
// the last change, from which a watch continues; requestinfo.Everything
// selects all. sel is part of what was authorized: a list with
// ?fieldSelector=metadata.name=x is reviewed for x alone (an RBAC rule with
// resourceNames: [x] allows it), so the store must not return more.
func (s *Store) List(namespace string, sel requestinfo.Selectors) *WidgetList {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := &WidgetList{
		TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion, Kind: ListKind},
		ListMeta: metav1.ListMeta{ResourceVersion: s.events.ResourceVersion()},
		Items:    []Widget{},
	}
	for ns, widgets := range s.widgets {
		if namespace != "" && ns != namespace {
			continue
		}
		for _, w := range widgets {
			if sel.Matches(w) {
				list.Items = append(list.Items, *w.DeepCopy())
			}
		}
	}
	slices.SortFunc(list.Items, func(a, b Widget) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return list
}

// UserInfo converts the caller, as aggauth put it in the request context, to
// the API form recorded in a Widget's status.
func UserInfo(u user.Info) authenticationv1.UserInfo {
	if u == nil {
		return authenticationv1.UserInfo{}
	}
	info := authenticationv1.UserInfo{
		Username: u.GetName(),
		UID:      u.GetUID(),
		Groups:   slices.Clone(u.GetGroups()),
	}
	if extra := u.GetExtra(); len(extra) > 0 {
		info.Extra = make(map[string]authenticationv1.ExtraValue, len(extra))
		for k, v := range extra {
			info.Extra[k] = slices.Clone(v)
		}
	}
	return info
}

// Username is u's name, or "" when there is no user (nil).
func Username(u user.Info) string {
	if u == nil {
		return ""
	}
	return u.GetName()
}
