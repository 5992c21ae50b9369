package authz

// SetOnWait installs a hook called by every Authorize that joined or started
// a review flight, just before it waits: tests know a request is waiting.
func SetOnWait(a *Authorizer, f func()) { a.flights.OnWait = f }
