package authz

// SetOnWait installs a hook called by every Authorize that joined or started
// a review flight, just before it waits: tests know a request is waiting.
func SetOnWait(a *Authorizer, f func()) { a.flights.OnWait = f }

// SetMaxWaiting bounds the misses of a waiting to start a review (4 ×
// MaxInFlight by default), for tests of the full queues.
func SetMaxWaiting(a *Authorizer, n int) { a.flights.MaxWaiting = n }
