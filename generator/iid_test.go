package generator

import (
	"errors"
	"testing"
)

func TestParseIIDRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want IID
		str  string
	}{
		{"low:1", IID{Mode: IIDLow, Count: 1}, "low:1"},
		{"low", IID{Mode: IIDLow, Count: 1}, "low:1"},
		{"low:18446744073709551615", IID{Mode: IIDLow, Count: 1<<64 - 1}, "low:18446744073709551615"},
		{"fixed:::1", IID{Mode: IIDFixed, Suffix: [16]byte{15: 1}}, "fixed:::1"},
		{"fixed:::dead:beef:0:1", IID{Mode: IIDFixed, Suffix: [16]byte{8: 0xde, 9: 0xad, 10: 0xbe, 11: 0xef, 15: 1}}, "fixed:::dead:beef:0:1"},
		{"random", IID{Mode: IIDRandom}, "random"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseIID(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseIID = %+v, %v; want %+v", got, err, tc.want)
			}
			if got.String() != tc.str {
				t.Errorf("String = %q, want %q", got.String(), tc.str)
			}
			again, err := ParseIID(got.String())
			if err != nil || again != got {
				t.Errorf("ParseIID(String()) = %+v, %v", again, err)
			}
		})
	}
	if s := (IID{}).String(); s != "low:1" {
		t.Errorf("zero IID is %q, want low:1", s)
	}
}

func TestParseIIDRejectsMalformedInput(t *testing.T) {
	for _, in := range []string{"", "low:0", "low:-1", "low:x", "low:18446744073709551616", "fixed", "fixed:",
		"fixed:1.2.3.4", "fixed:fe80::1%eth0", "random:1", "eui64:", "EUI64", "LOW:1"} {
		if got, err := ParseIID(in); !errors.Is(err, ErrIID) {
			t.Errorf("ParseIID(%q) = %+v, %v; want ErrIID", in, got, err)
		}
	}
}

func TestIIDModeString(t *testing.T) {
	for m, want := range map[IIDMode]string{IIDLow: "low", IIDFixed: "fixed", IIDRandom: "random", 9: "IIDMode(9)"} {
		if m.String() != want {
			t.Errorf("%d: %q, want %q", int(m), m.String(), want)
		}
	}
}
