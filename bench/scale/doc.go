// Package scale is the scale model of bench/BENCHMARKS.md (make scale): how
// the cost of aggauth's request path, and of k8s.io/apiserver's delegated
// authentication and authorization doing the same job, grows with the users,
// namespaces and connections of a cluster. Its test (build tag scale, so that
// go test ./... does not run it) runs three simulations on loopback and in
// process, bounded in time, and writes their tables, the data of the charts
// and the recommended cache sizes:
//
//   - authorization: users × namespaces × resources, requests Zipf-distributed,
//     through aggauth's authz.Authorizer and Kubernetes' webhook authorizer,
//     each asking an in-process kube-apiserver that answers a
//     SubjectAccessReview after a latency and counts them, through client-go
//     with Kubernetes' client budget (200 QPS, burst 400). It runs in virtual
//     time (testing/synctest): a minute of traffic takes the CPU time of its
//     requests, not a minute, and the caches' TTLs are those of production;
//
//   - connections: 1 to 1,000 concurrent callers, each with its own client
//     certificate and connection, over HTTP/2 and TLS on loopback, in real
//     time: CPU time per request, of the first request on a connection and of
//     the next ones;
//
//   - rolling restart: 2 to 10 replicas behind one Service, restarted one at a
//     time: the SubjectAccessReviews a replica sends while its cache is cold.
//
//     make scale
//     go test -tags scale -run '^TestScale$' -count=1 -timeout 30m ./bench/scale/ -args -out bench
package scale
