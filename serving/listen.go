package serving

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// keepAlivePeriod is the TCP keep-alive period of accepted connections, as
// the generic apiserver's (secure_serving.go defaultKeepAlivePeriod).
const keepAlivePeriod = 3 * time.Minute

// listen opens the TCP listener o asks for: o.Listener itself, or one on
// BindAddress and SecurePort with the socket options of the sharing flags.
func listen(o Options) (net.Listener, error) {
	if o.Listener != nil {
		return o.Listener, nil
	}
	addr := net.JoinHostPort(o.BindAddress.String(), strconv.Itoa(o.SecurePort))
	lc := net.ListenConfig{KeepAlive: keepAlivePeriod}
	var controls []func(fd uintptr) error
	if o.PermitPortSharing {
		controls = append(controls, permitPortReuse)
	}
	if o.PermitAddressSharing {
		controls = append(controls, permitAddressReuse)
	}
	if len(controls) > 0 {
		lc.Control = func(_, _ string, conn syscall.RawConn) error {
			var sockErr error
			err := conn.Control(func(fd uintptr) {
				for _, c := range controls {
					if sockErr = c(fd); sockErr != nil {
						return
					}
				}
			})
			if err != nil {
				return err
			}
			return sockErr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving: failed to listen on %s: %w", addr, err)
	}
	return ln, nil
}
