//go:build !windows

package serving

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func permitPortReuse(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("setting SO_REUSEPORT (--permit-port-sharing): %w", err)
	}
	return nil
}

func permitAddressReuse(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("setting SO_REUSEADDR (--permit-address-sharing): %w", err)
	}
	return nil
}
