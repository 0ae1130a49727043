package testbed

import (
	"net/netip"
	"os/exec"
	"testing"
)

func TestInstanceAddressing(t *testing.T) {
	if got := InstanceAddr(0); got != netip.MustParseAddr("3fff:0:100::2") {
		t.Errorf("InstanceAddr(0) = %v", got)
	}
	if got := InstanceAddr(11); got != netip.MustParseAddr("3fff:0:10b::2") || !InstancePrefix.Contains(got) || !Infra.Contains(got) {
		t.Errorf("InstanceAddr(11) = %v", got)
	}
	if got := InstanceNS("x", 3); got != "x-i3" {
		t.Errorf("InstanceNS = %q", got)
	}
}

// TestInstancesReachEachOther builds three instance namespaces and pings
// from the first to the last through the router, then checks that Down
// removes them.
func TestInstancesReachEachOther(t *testing.T) {
	tb := upForTest(t, Config{Name: testName("i"), Instances: 3})
	if len(tb.Instances) != 3 || tb.Instances[2].Addr != InstanceAddr(2) || tb.Instances[2].NS != InstanceNS(tb.Name, 2) {
		t.Fatalf("Instances = %+v", tb.Instances)
	}
	out, err := exec.Command("ip", "netns", "exec", tb.Instances[0].NS, "ping", "-6", "-c", "1", "-W", "2", tb.Instances[2].Addr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %v from %s: %v\n%s", tb.Instances[2].Addr, tb.Instances[0].NS, err, out)
	}
	if err := Down(t.Context(), tb.Name); err != nil {
		t.Fatal(err)
	}
	for _, in := range tb.Instances {
		if exists(in.NS) {
			t.Errorf("namespace %s still exists after Down", in.NS)
		}
	}
}
