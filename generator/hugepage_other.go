//go:build !linux

package generator

// adviseHuge is a no-op off Linux (see hugepage_linux.go).
func adviseHuge[T any](s []T) {}
