package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/p2pnet/widescan/widescan"
)

// checkpointVersion is the version of the --resume file format.
const checkpointVersion = 1

// checkpoint is the --resume file: where a scan stands, and what makes a
// later run the same scan.
type checkpoint struct {
	Version int `json:"version"`
	// Fingerprint hashes what defines the target sequence apart from the
	// perm seed (see fingerprint).
	Fingerprint string `json:"fingerprint"`
	PermSeed    uint64 `json:"perm_seed"`
	ScanID      uint64 `json:"scan_id"`
	// Position is the shard position to continue from
	// (widescan.Stats.Checkpoint).
	Position uint64 `json:"position"`
	// Done says every target has been probed.
	Done bool `json:"done"`
}

// fingerprint hashes everything that defines the target sequence except
// the perm seed: the windows, the IID, the patterns, the list, the shard,
// the target cap and the blocklist with what is lifted from it. A resume
// file is only valid for a run with the same fingerprint.
func fingerprint(cfg widescan.Config) string {
	h := sha256.New()
	str := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	num := func(v uint64) { str(fmt.Sprint(v)) }
	str("widescan checkpoint v1")
	num(uint64(len(cfg.Targets)))
	for _, w := range cfg.Targets {
		str(w.String())
	}
	str(cfg.IID.String())
	num(uint64(len(cfg.Patterns)))
	for _, p := range cfg.Patterns {
		str(p.String())
	}
	num(uint64(cfg.List.Len()))
	for i := range cfg.List.Len() {
		str(cfg.List.Addr(i).String())
	}
	num(cfg.Shard.Index)
	num(cfg.Shard.Count)
	num(cfg.MaxTargets)
	num(uint64(len(cfg.Blocklist)))
	for _, p := range cfg.Blocklist {
		str(p.String())
	}
	num(uint64(len(cfg.Unblock)))
	for _, p := range cfg.Unblock {
		str(p.String())
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// readCheckpoint reads the resume file at path; ok is false when it does
// not exist.
func readCheckpoint(path string) (c checkpoint, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("--resume: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, false, fmt.Errorf("--resume %s: %w", path, err)
	}
	if c.Version != checkpointVersion {
		return c, false, fmt.Errorf("--resume %s: version %d, want %d", path, c.Version, checkpointVersion)
	}
	return c, true, nil
}

// writeCheckpoint replaces the file at path with c atomically: a temporary
// file in the same directory, synced, then renamed over it, so that a crash
// leaves the old checkpoint or the new one, never a torn one.
func writeCheckpoint(path string, c checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// checkpointEvery is how often a running scan rewrites its resume file.
const checkpointEvery = time.Second

// resumer keeps a scan's resume file up to date.
type resumer struct {
	path string
	c    checkpoint
	end  uint64 // the shard position after the last target
}

// update writes the checkpoint of st.
func (r *resumer) update(st widescan.Stats) error {
	r.c.Position = st.Checkpoint
	r.c.Done = st.Checkpoint >= r.end
	return writeCheckpoint(r.path, r.c)
}

// loop rewrites the resume file every checkpointEvery until done is
// closed, and reports the first error on errc.
func (r *resumer) loop(s *widescan.Scanner, done <-chan struct{}, errc chan<- error) {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var err error
	for {
		select {
		case <-done:
			errc <- err
			return
		case <-t.C:
			if e := r.update(s.Stats()); err == nil {
				err = e
			}
		}
	}
}
