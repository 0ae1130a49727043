package generator

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestZZRec(t *testing.T) {
	for _, set := range []string{"6gan-90k", "6graph-5k"} {
		train, err := ReadSeedFile("/tmp/split-" + set + "-train.txt")
		if err != nil {
			t.Skip(err)
		}
		test, _ := ReadSeedFile("/tmp/split-" + set + "-test.txt")
		t0 := time.Now()
		tg, err := NewTGA(train, TGAConfig{})
		if err != nil {
			t.Fatal(err)
		}
		bt := time.Since(t0)
		ts := newU128Set(len(test))
		for _, a := range test {
			ts.add(u128From(a))
		}
		t0 = time.Now()
		c, _ := tg.Generate(1000000)
		gt := time.Since(t0)
		hits := 0
		out := ""
		for i, a := range c {
			if ts.has(u128From(netip.AddrFrom16(a))) {
				hits++
			}
			switch i + 1 {
			case 10000, 30000, 100000, 300000, 1000000:
				out += fmt.Sprintf(" %.2f%%", 100*float64(hits)/float64(len(test)))
			}
		}
		fmt.Printf("%s:%s build %v gen %v (%.2fM/s)\n", set, out, bt.Round(time.Millisecond), gt.Round(time.Millisecond), float64(len(c))/gt.Seconds()/1e6)
	}
}
