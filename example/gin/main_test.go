package main

import (
	"testing"

	"github.com/aggauth/aggauth/example/internal/servertest"
)

// TestServer starts the gin server with run against a fake kube-apiserver and
// checks health, authentication, discovery, the widgets round trip and
// /metrics through the real aggauth chain.
func TestServer(t *testing.T) { servertest.Test(t, run) }
