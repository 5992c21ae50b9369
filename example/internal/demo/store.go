package demo

import (
	"cmp"
	"slices"
	"strconv"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/requestinfo"
)

// Store keeps Widgets in memory. It is safe for concurrent use; it hands out
// copies, never the stored objects.
type Store struct {
	mu      sync.RWMutex                  // guards the fields below
	widgets map[string]map[string]*Widget // namespace -> name -> widget
	rv      uint64                        // last resourceVersion handed out
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{widgets: make(map[string]map[string]*Widget)}
}

// Create stores w in namespace, created by caller, and returns the stored
// Widget: name (from generateName when name is empty), uid, resourceVersion,
// creationTimestamp, apiVersion, kind and status are set by the store; of the
// rest of the metadata only labels and annotations are kept. The error is an
// AlreadyExists when the name is taken.
func (s *Store) Create(namespace string, w *Widget, caller user.Info) (*Widget, error) {
	if err := ValidateCreate(namespace, w); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.widgets[namespace]
	if ns == nil {
		ns = make(map[string]*Widget)
		s.widgets[namespace] = ns
	}
	name := w.Name
	if name == "" {
		name = s.generateName(ns, w.GenerateName)
	}
	if _, ok := ns[name]; ok {
		return nil, apierrors.NewAlreadyExists(GroupResource, name)
	}
	s.rv++
	stored := &Widget{
		TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion, Kind: Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			GenerateName:      w.GenerateName,
			Namespace:         namespace,
			UID:               uuid.NewUUID(),
			ResourceVersion:   strconv.FormatUint(s.rv, 10),
			CreationTimestamp: metav1.Now(),
			Labels:            w.Labels,
			Annotations:       w.Annotations,
		},
		Spec:   w.Spec,
		Status: WidgetStatus{CreatedBy: UserInfo(caller)},
	}
	stored = stored.DeepCopy() // share nothing with the caller's w
	ns[name] = stored
	return stored.DeepCopy(), nil
}

// generateName returns prefix plus five random characters, not in use in ns,
// as kube-apiserver names objects created with generateName.
func (s *Store) generateName(ns map[string]*Widget, prefix string) string {
	for {
		name := prefix + utilrand.String(5)
		if _, taken := ns[name]; !taken {
			return name
		}
	}
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
// that sel selects, sorted by namespace and name; requestinfo.Everything
// selects all. sel is part of what was authorized: a list with
// ?fieldSelector=metadata.name=x is reviewed for x alone (an RBAC rule with
// resourceNames: [x] allows it), so the store must not return more.
func (s *Store) List(namespace string, sel requestinfo.Selectors) *WidgetList {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := &WidgetList{
		TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion, Kind: ListKind},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatUint(s.rv, 10)},
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

// Delete removes the Widget namespace/name and returns the success Status
// kube-apiserver answers a delete with, or a NotFound error.
func (s *Store) Delete(namespace, name string) (*metav1.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.widgets[namespace][name]
	if !ok {
		return nil, apierrors.NewNotFound(GroupResource, name)
	}
	delete(s.widgets[namespace], name)
	s.rv++
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusSuccess,
		Code:     200,
		Details:  &metav1.StatusDetails{Name: name, Group: Group, Kind: Resource, UID: w.UID},
	}, nil
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
