package reqattr

import (
	"net/url"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// maxScannedParams is the number of query parameters up to which a query is
// scanned in place. Longer queries go through url.ParseQuery itself, so that its
// limit on the number of parameters applies exactly as it does in Kubernetes.
const maxScannedParams = 64

// queryValue is the first value of a query parameter, as url.Values.Get sees it.
type queryValue struct {
	value string
	set   bool
}

// listQuery holds the query parameters that decide how Kubernetes resolves a
// collection GET: the ones ListOptions decoding reads and can fail on.
type listQuery struct {
	watch, fieldSelector, labelSelector, limit, timeoutSeconds queryValue
}

// scanListQuery reads raw the way url.ParseQuery does (segments split on "&",
// segments with ";" or bad escapes skipped, first value wins) without building a
// url.Values.
func scanListQuery(raw string) listQuery {
	var q listQuery
	if raw == "" {
		return q
	}
	if strings.Count(raw, "&") >= maxScannedParams {
		return listQueryFromValues(raw)
	}
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" || strings.IndexByte(seg, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		slot := q.slot(k)
		if slot == nil || slot.set {
			continue
		}
		val, err := queryUnescape(v)
		if err != nil {
			continue
		}
		*slot = queryValue{value: val, set: true}
	}
	return q
}

// listQueryFromValues is scanListQuery through url.ParseQuery.
func listQueryFromValues(raw string) listQuery {
	vals, _ := url.ParseQuery(raw)
	var q listQuery
	for key, vs := range vals {
		if slot := q.slot(key); slot != nil && len(vs) > 0 {
			*slot = queryValue{value: vs[0], set: true}
		}
	}
	return q
}

// slot returns where the parameter with the still escaped key rawKey goes, or nil.
func (q *listQuery) slot(rawKey string) *queryValue {
	key := rawKey
	if strings.IndexByte(rawKey, '%') >= 0 || strings.IndexByte(rawKey, '+') >= 0 {
		k, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil
		}
		key = k
	}
	switch key {
	case "watch":
		return &q.watch
	case "fieldSelector":
		return &q.fieldSelector
	case "labelSelector":
		return &q.labelSelector
	case "limit":
		return &q.limit
	case "timeoutSeconds":
		return &q.timeoutSeconds
	}
	return nil
}

// listVerbAndName resolves a GET without a name as Kubernetes does: it decodes
// ListOptions from the query; on success the verb is watch or list from the
// decoded watch flag and a fieldSelector requiring metadata.name=X names the
// object; when decoding fails the watch flag is read again by hand and no name
// is taken. Decoding is only attempted where its outcome changes the answer.
func (q *listQuery) listVerbAndName() (verb, name string) {
	watchDecoded := q.watch.set && q.watch.value != "0" && !strings.EqualFold(q.watch.value, "false")
	watchFallback := false
	if q.watch.set {
		switch strings.ToLower(q.watch.value) {
		case "false", "0":
		default:
			watchFallback = true
		}
	}

	candidate, hasCandidate, fieldOK := "", false, true
	if q.fieldSelector.value != "" {
		sel, err := fields.ParseSelector(q.fieldSelector.value)
		if err != nil {
			fieldOK = false
		} else if n, ok := sel.RequiresExactMatch("metadata.name"); ok && len(content.IsPathSegmentName(n)) == 0 {
			candidate, hasCandidate = n, true
		}
	}

	decoded := true
	if hasCandidate || watchDecoded != watchFallback {
		decoded = fieldOK && q.decodes()
	}
	watch := watchFallback
	if decoded {
		watch = watchDecoded
		if hasCandidate {
			name = candidate
		}
	}
	if watch {
		return "watch", name
	}
	return "list", name
}

// decodes reports whether the rest of ListOptions decoding succeeds: the label
// selector parses and limit and timeoutSeconds are integers.
func (q *listQuery) decodes() bool {
	if _, err := labels.Parse(q.labelSelector.value); err != nil {
		return false
	}
	for _, v := range [...]queryValue{q.limit, q.timeoutSeconds} {
		if v.set {
			if _, err := strconv.ParseInt(v.value, 10, 64); err != nil {
				return false
			}
		}
	}
	return true
}
