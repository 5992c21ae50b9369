package authn

// SetTokenOnWait installs a hook called by every request of t that joined or
// started a review flight, just before it waits: tests know a request is
// waiting without depending on scheduling.
func SetTokenOnWait(t *Token, f func()) { t.flights.OnWait = f }

// TokenCacheLen returns the entries of t's two caches: authenticated tokens
// and the others.
func TokenCacheLen(t *Token) (ok, failed int) {
	ok, _ = t.cache.ok.Len()
	failed, _ = t.cache.failed.Len()
	return ok, failed
}

// SetTokenMaxWaiting bounds the misses of t waiting to start a review (4 ×
// MaxInFlight by default), for tests of the full queues.
func SetTokenMaxWaiting(t *Token, n int) { t.flights.MaxWaiting = n }
