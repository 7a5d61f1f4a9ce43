/* libraft's plain TCP transport with Nagle's algorithm off.
 *
 * libraft 0.15's raft_uv_tcp_init transport never sets TCP_NODELAY. Under
 * load a leader writes a new AppendEntries while the previous one is not yet
 * acknowledged, and Nagle holds it until the follower's delayed ACK, up to
 * 40 ms on Linux: with 64 clients about one commit in eleven took 25-50 ms
 * instead of 2-5 (escrow_raft_commit_duration_seconds). The TLS transport
 * (peer_tls.h) sets TCP_NODELAY itself.
 *
 * It also drops a stream connected to itself: dialling a port of this host
 * where nothing listens, the kernel may give the socket that very port (an
 * ephemeral one) and the connect succeeds on its own (TCP simultaneous
 * open). libraft 0.15 would hold it as the peer's connection for good, and
 * the peer, started again, found its port taken ("raft address ... is
 * already in use"). Such a stream is closed and the dial fails, to be
 * retried. Under TLS such a dial would read its own ClientHello back and
 * fail the handshake (reasoned, not tested). */
#ifndef ESCROW_RAFT_NODELAY_H
#define ESCROW_RAFT_NODELAY_H

#include <raft.h>
#include <raft/uv.h>

/* Wraps t's connect and listen (after raft_uv_tcp_init, before raft_init's
 * io->init) so that every TCP stream t hands libraft has TCP_NODELAY and
 * none of its dials is connected to itself. */
void nodelay_install(struct raft_uv_transport *t);

#endif
