package widescan

import (
	"net/netip"
	"time"

	"github.com/p2pnet/widescan/sniffer"
)

// Hit is a live host: a validated Echo Reply to one of this run's probes.
type Hit struct {
	// Target is the address that was probed (taken from the validated
	// probe payload).
	Target netip.Addr
	// Responder is the source of the reply; it differs from Target when
	// another address answered for it.
	Responder netip.Addr
	// RTT is the time from sending the probe to capturing the reply.
	RTT time.Duration
	// HopLimit is the reply's IPv6 hop limit as captured.
	HopLimit uint8
	// Time is when the reply was captured.
	Time time.Time
	// Type and Code are the ICMPv6 type and code of the answer (RFC 4443):
	// 129/0 for an Echo Reply (a live Target); for an ICMPv6 error (1
	// Destination Unreachable, 2 Packet Too Big, 3 Time Exceeded, 4
	// Parameter Problem) validated through the probe it quotes, Responder is
	// the router that sent it and Target the probed address.
	Type, Code uint8
	// Info is the error's 32-bit field after the checksum: the MTU of a
	// Packet Too Big, the pointer of a Parameter Problem; 0 otherwise.
	Info uint32
	// Aliased reports that Target lies in an aliased prefix: one of
	// Config.Aliased, or a /64 that the online alias test
	// (Config.AliasCheck) found aliased. Such a hit does not show a live
	// host.
	Aliased bool
}

// hitOf converts a sniffer reply.
func hitOf(r sniffer.Reply) Hit {
	return Hit{Target: r.Target, Responder: r.Responder, RTT: r.RTT, HopLimit: r.HopLimit,
		Time: r.Time, Type: r.Type, Code: r.Code, Info: r.Info}
}

// Success reports whether h is an Echo Reply from the target (ZMap's and
// XMap's "success" field): false for ICMPv6 errors.
func (h Hit) Success() bool { return h.Type == 129 }

// Stats are the counters of a run. Run returns the final Stats;
// Scanner.Stats returns a snapshot at any time.
type Stats struct {
	// PermSeed and ScanID are the values the run used (drawn at random when
	// the Config left them 0).
	PermSeed uint64
	ScanID   uint64
	// Targets is the number of sequence positions this run visits (its
	// shard, after MaxTargets; Config.Budget for a TGA scan); Generated
	// counts the targets produced so far, and Blocked the candidates
	// dropped by the blocklist inside partly blocked subnets (for a TGA
	// scan, the candidates its run skipped in the scan's blocklist).
	Targets   uint64
	Generated uint64
	Blocked   uint64
	// Sent counts probes handed to the kernel (or written, in a dry run);
	// SendErrors counts probes the send path failed to send.
	Sent       uint64
	SendErrors uint64
	// Received counts Echo Replies captured; Valid those whose MAC checked;
	// Invalid the forged, stale or foreign ones; Duplicate the repeated
	// replies of a target already reported; KernelDrops the packets the
	// capture ring dropped.
	Received    uint64
	Valid       uint64
	Invalid     uint64
	Duplicate   uint64
	KernelDrops uint64
	// Hits counts hits reported (Valid minus Duplicate); ICMPErrors the
	// part of them that are validated ICMPv6 errors, not Echo Replies.
	Hits       uint64
	ICMPErrors uint64
	// AliasedHits is the part of Hits reported with Hit.Aliased set
	// (Config.Aliased, Config.AliasCheck). AliasTested counts the /64s the
	// online alias test probed, AliasFound those it found aliased, and
	// AliasSent its probes (AliasProbes per /64 and Config.Probes; not in
	// Sent).
	AliasedHits uint64
	AliasTested uint64
	AliasFound  uint64
	AliasSent   uint64
	// SendPath is the send path the run used (SendPathPacket or
	// SendPathRaw; SendPathRaw for a dry run); SendPathNote says why
	// SendPathAuto fell back to the raw path ("" otherwise).
	SendPath     SendPath
	SendPathNote string
	// Backend is the generation backend the run used, "cpu" or "gpu" (""
	// before Run opens it); BackendNote says why generator.BackendAuto fell
	// back to the CPU ("" otherwise).
	Backend     string
	BackendNote string
	// Checkpoint is the shard position to resume from (Config.Start): every
	// target before it has been probed, none after it. It starts at
	// Config.Start and advances to a batch's end once all Config.Probes
	// copies of the batch are sent; a run stopped in the middle of a
	// batch's first copy stops it at the first target not sent, one
	// stopped during a later copy at the batch's end. Once every target is
	// sent it is the end of the shard (generator.Generator.End). A TGA
	// scan cannot be resumed; its Checkpoint is the count of candidates
	// handed to the sender.
	Checkpoint uint64

	// Seed-driven scans (Config.TGA), from generator.TGARun.Stats; all 0
	// otherwise. TGAHits counts the Echo Replies fed back that the run
	// took as hits of its candidates; TGARounds its re-rankings of the
	// candidate groups; TGASpawned the groups it spawned around hits;
	// TGAExcluded the candidates it skipped inside Config.Aliased.
	TGAHits     uint64
	TGARounds   uint64
	TGASpawned  uint64
	TGAExcluded uint64

	// Peer recognition (Config.Beacon). Beacons counts the inbound Echo
	// Requests that carried a card; Peers the new verified peers reported;
	// PeerDuplicate the cards of peers already reported. The rejected cards
	// are counted by reason: Malformed (does not parse), Forged (bad
	// signature), Expired, WrongNetwork (another swarm), Replayed (sent from
	// an address other than the card's), Self (our own card reflected) and
	// Untrusted (refused by the trust policy); VerifyLimited counts cards
	// dropped unchecked over the signature-check budget (a flood; see
	// sniffer.DefaultVerifyRate). Beacons = Peers + PeerDuplicate + the
	// rejections + VerifyLimited.
	Beacons       uint64
	Peers         uint64
	PeerDuplicate uint64
	Malformed     uint64
	Forged        uint64
	Expired       uint64
	WrongNetwork  uint64
	Replayed      uint64
	Self          uint64
	Untrusted     uint64
	VerifyLimited uint64
	// Answers counts the answers sent to new peers that probed us;
	// AnswersLimited those withheld by the per-source rate limit;
	// AnswerErrors those the socket failed to send; AnswerEchoes the Echo
	// Replies our answers drew (not hits).
	Answers        uint64
	AnswersLimited uint64
	AnswerErrors   uint64
	AnswerEchoes   uint64
	// Start is when Run began; End when it returned (zero while running).
	Start, End time.Time
	// LastProbe is when the last probe was sent (zero until then); the send
	// phase is LastProbe - Start, the rest of the run is the cooldown.
	LastProbe time.Time
}

// addSniffer copies the sniffer's counters into s.
func (s *Stats) addSniffer(ns sniffer.Stats) {
	s.Received, s.Valid, s.Invalid = ns.Received, ns.Valid, ns.Invalid
	s.Duplicate, s.KernelDrops = ns.Duplicate, ns.KernelDrops
	s.Beacons, s.Peers, s.PeerDuplicate = ns.Beacons, ns.Peers, ns.PeerDuplicate
	s.Malformed, s.Forged, s.Expired, s.WrongNetwork = ns.Malformed, ns.Forged, ns.Expired, ns.WrongNetwork
	s.Replayed, s.Self, s.Untrusted, s.AnswerEchoes = ns.Replayed, ns.Self, ns.Untrusted, ns.AnswerEchoes
	s.VerifyLimited = ns.VerifyLimited
}

// addAnswers copies the answer counters of e into s.
func (s *Stats) addAnswers(e *peerEngine) {
	if e == nil {
		return
	}
	s.Answers, s.AnswersLimited, s.AnswerErrors = e.answers.Load(), e.limited.Load(), e.errs.Load()
}

// SendRate is the achieved probe rate in probes/s over the send phase (from
// Start to LastProbe, or to now while probes are still going out).
func (s Stats) SendRate() float64 {
	if s.Start.IsZero() {
		return 0
	}
	end := s.LastProbe
	if end.IsZero() {
		end = s.End
	}
	if end.IsZero() {
		end = time.Now()
	}
	d := end.Sub(s.Start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(s.Sent) / d
}

// Duration is the run's wall time so far, or in all once it ended.
func (s Stats) Duration() time.Duration {
	if s.Start.IsZero() {
		return 0
	}
	if s.End.IsZero() {
		return time.Since(s.Start)
	}
	return s.End.Sub(s.Start)
}
