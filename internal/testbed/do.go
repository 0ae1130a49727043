package testbed

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs f inside the network namespace named ns (usually one of tb's, such as
// tb.ScannerNS) and returns its error. f runs on a fresh goroutine locked to its own OS
// thread, which is switched into ns and switched back afterwards; if switching back fails the
// thread is never unlocked, so the Go runtime discards it rather than reuse a thread in the
// wrong namespace. Sockets f opens stay in ns after f returns; goroutines f starts run in the
// process's original namespace, not in ns. Do blocks until f returns. Safe for concurrent
// use.
func (tb *Testbed) Do(ns string, f func() error) error {
	return do(ns, f)
}

func do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: current namespace: %w", ns, err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: open: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			// setns failed, so the thread is still where it started.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: enter: %w", ns, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("netns %s: restore: %w (f: %v)", ns, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// RunIn runs f inside the network namespace named ns, as Testbed.Do does, for namespaces
// of a testbed known only by name. Safe for concurrent use.
func RunIn(ns string, f func() error) error {
	return do(ns, f)
}
