// Package loadgen sends load to a Gatehouse running on this machine and
// reports throughput and latency; `gatehouse bench token|api|soak` are its
// commands. A soak (RunSoak) runs a mixed workload for a bounded time and
// reports every operation's outcome, when each failure happened, and the
// server's heap and goroutines.
//
// It only ever targets loopback addresses: a URL whose host is not a
// loopback IP literal or "localhost" is refused, and every connection is
// checked again at dial time, so neither a name that resolves elsewhere nor
// a redirect can send load off the machine.
package loadgen
