package discovery

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// validateGroups checks a declaration whose defaults are applied, with the
// rules kube-apiserver applies to APIServices and CustomResourceDefinitions.
func validateGroups(groups []Group) field.ErrorList {
	root := field.NewPath("groups")
	if len(groups) == 0 {
		return field.ErrorList{field.Required(root, "declare at least one group")}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	for i := range groups {
		g := &groups[i]
		p := root.Index(i)
		errs = append(errs, validateName(p.Child("name"), g.Name, validation.IsDNS1123Subdomain)...)
		if seen.Has(g.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), g.Name))
		}
		seen.Insert(g.Name)
		errs = append(errs, validateVersions(p.Child("versions"), g.Versions)...)
	}
	return errs
}

func validateVersions(p *field.Path, versions []Version) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(p, "declare at least one version")}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	for i := range versions {
		v := &versions[i]
		vp := p.Index(i)
		errs = append(errs, validateName(vp.Child("name"), v.Name, validation.IsDNS1035Label)...)
		if seen.Has(v.Name) {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		seen.Insert(v.Name)
		errs = append(errs, validateResources(vp.Child("resources"), v.Resources)...)
	}
	return errs
}

func validateResources(p *field.Path, resources []Resource) field.ErrorList {
	if len(resources) == 0 {
		return field.ErrorList{field.Required(p, "declare at least one resource")}
	}
	var errs field.ErrorList
	names := map[string]int{} // plural, singular and short names: which resource owns each
	kinds := sets.New[string]()
	for i := range resources {
		r := &resources[i]
		rp := p.Index(i)
		errs = append(errs, validateResource(rp, r)...)
		for _, n := range append([]string{r.Plural, r.Singular}, r.ShortNames...) {
			if owner, ok := names[n]; ok && owner != i {
				errs = append(errs, field.Duplicate(rp, n))
			}
			names[n] = i
		}
		if kinds.Has(r.Kind) {
			errs = append(errs, field.Duplicate(rp.Child("kind"), r.Kind))
		}
		kinds.Insert(r.Kind)
	}
	return errs
}

func validateResource(p *field.Path, r *Resource) field.ErrorList {
	errs := validateName(p.Child("plural"), r.Plural, validation.IsDNS1123Label)
	errs = append(errs, validateName(p.Child("singular"), r.Singular, validation.IsDNS1123Label)...)
	errs = append(errs, validateName(p.Child("kind"), r.Kind, isKind)...)
	errs = append(errs, validateName(p.Child("listKind"), r.ListKind, isKind)...)
	if r.Kind != "" && r.ListKind == r.Kind {
		errs = append(errs, field.Invalid(p.Child("listKind"), r.ListKind, "must differ from kind"))
	}
	errs = append(errs, validateVerbs(p.Child("verbs"), r.Verbs)...)
	errs = append(errs, validateList(p.Child("shortNames"), r.ShortNames, validation.IsDNS1123Label)...)
	errs = append(errs, validateList(p.Child("categories"), r.Categories, validation.IsDNS1123Label)...)
	errs = append(errs, validateSchema(p.Child("schema"), r.Schema)...)
	errs = append(errs, validateColumns(p.Child("columns"), r.Columns)...)
	seen := sets.New[string]()
	for i := range r.Subresources {
		s := &r.Subresources[i]
		sp := p.Child("subresources").Index(i)
		errs = append(errs, validateName(sp.Child("name"), s.Name, validation.IsDNS1123Label)...)
		if seen.Has(s.Name) {
			errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
		}
		seen.Insert(s.Name)
		errs = append(errs, validateVerbs(sp.Child("verbs"), s.Verbs)...)
		errs = append(errs, validateSubresourceKind(sp, s)...)
	}
	return errs
}

func validateSubresourceKind(p *field.Path, s *Subresource) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.Kind.Kind != "":
		errs = append(errs, validateName(p.Child("kind", "kind"), s.Kind.Kind, isKind)...)
		if s.Kind.Version == "" && s.Kind.Group != "" {
			errs = append(errs, field.Required(p.Child("kind", "version"), "a group needs a version"))
		}
	case s.Kind.Group != "" || s.Kind.Version != "":
		errs = append(errs, field.Required(p.Child("kind", "kind"), "a group or version needs a kind"))
	case s.Schema != nil:
		errs = append(errs, field.Forbidden(p.Child("schema"), "the subresource serves the resource's own kind: set kind to give it a schema"))
	}
	return append(errs, validateSchema(p.Child("schema"), s.Schema)...)
}

// validateSchema checks that a top-level schema describes an object.
func validateSchema(p *field.Path, s *spec.Schema) field.ErrorList {
	if s == nil || len(s.Type) == 0 || len(s.Type) == 1 && s.Type[0] == "object" {
		return nil
	}
	return field.ErrorList{field.Invalid(p.Child("type"), s.Type, `must be "object"`)}
}

func validateVerbs(p *field.Path, verbs metav1.Verbs) field.ErrorList {
	return validateList(p, verbs, func(v string) []string {
		if strings.TrimSpace(v) != v || strings.ContainsAny(v, "/ ") {
			return []string{"must not contain spaces or slashes"}
		}
		return nil
	})
}

// validateList checks that every item is valid and appears once.
func validateList(p *field.Path, items []string, check func(string) []string) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, item := range items {
		errs = append(errs, validateName(p.Index(i), item, check)...)
		if seen.Has(item) {
			errs = append(errs, field.Duplicate(p.Index(i), item))
		}
		seen.Insert(item)
	}
	return errs
}

func validateName(p *field.Path, name string, check func(string) []string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range check(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// isKind applies CustomResourceDefinition's rule for kinds: the lower-case
// kind is a DNS-1035 label.
func isKind(kind string) []string {
	return validation.IsDNS1035Label(strings.ToLower(kind))
}
