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

// scanListQuery reads raw the way url.ParseQuery does (see eachParam)
// without building a url.Values.
func scanListQuery(raw string) listQuery {
	var q listQuery
	if !eachParam(raw, func(key, rawValue string) bool {
		if slot := q.slot(key); slot != nil && !slot.set {
			if val, err := queryUnescape(rawValue); err == nil {
				*slot = queryValue{value: val, set: true}
			}
		}
		return true
	}) {
		vals, _ := url.ParseQuery(raw)
		for key, vs := range vals {
			if slot := q.slot(key); slot != nil && len(vs) > 0 {
				*slot = queryValue{value: vs[0], set: true}
			}
		}
	}
	return q
}

// QueryGet is url.ParseQuery(raw) followed by Get(key): the first value of
// the first well-formed parameter named key, or "". It reads raw in place.
func QueryGet(raw, key string) string {
	if !strings.Contains(raw, key) && !strings.ContainsAny(raw, "%+") {
		return "" // no parameter can be named key, spelled or escaped
	}
	var value string
	if !eachParam(raw, func(k, rawValue string) bool {
		if k != key {
			return true
		}
		v, err := queryUnescape(rawValue)
		if err != nil {
			return true // as ParseQuery, which skips the pair
		}
		value = v
		return false
	}) {
		vals, _ := url.ParseQuery(raw)
		return vals.Get(key)
	}
	return value
}

// eachParam calls f with the unescaped key and the still escaped value of
// each parameter of raw, in order, as url.ParseQuery reads them (segments
// split on "&"; empty ones, ones holding ";" and keys that do not unescape
// skipped), until f returns false. It reads nothing and returns false for a
// query of maxScannedParams parameters or more: the caller then uses
// url.ParseQuery itself, so that its limit on the number of parameters
// applies exactly as it does in Kubernetes.
func eachParam(raw string, f func(key, rawValue string) bool) bool {
	if strings.Count(raw, "&") >= maxScannedParams {
		return false
	}
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" || strings.IndexByte(seg, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		if strings.IndexByte(k, '%') >= 0 || strings.IndexByte(k, '+') >= 0 {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		if !f(k, v) {
			break
		}
	}
	return true
}

// slot returns where the parameter named key goes, or nil.
func (q *listQuery) slot(key string) *queryValue {
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
