// Package routing holds no code, only a differential test: it puts a corpus
// of hostile paths through aggauth's RequestAttributes step in front of
// net/http's ServeMux, chi and gin, and checks that each router either does
// not dispatch a request or dispatches it to the namespace and name that
// Kubernetes' RequestInfo resolved, which is what the chain authorizes and
// admits.
package routing
