//go:build windows

package serving

import "errors"

func permitPortReuse(uintptr) error {
	return errors.New("--permit-port-sharing is not supported on Windows")
}

func permitAddressReuse(uintptr) error {
	return errors.New("--permit-address-sharing is not supported on Windows")
}
