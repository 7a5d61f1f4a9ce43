/* Noticing at once that the leader's process is gone, so that a follower
 * need not wait out its whole election timeout.
 *
 * A follower that has heard nothing from its leader for
 * LEADERPROBE_SILENT_MS dials the leader's Raft address. When the dial is
 * refused (nothing listens there: the process died or was killed, and its
 * host is up), the leader is gone for sure and the owner is told, to start
 * an election now. Anything else (the dial connects: a paused or busy
 * leader; it times out: a partition or a dead host) changes nothing, and
 * the election timeout applies as before. Raft's safety does not rest on
 * it: an election started early is only an election, and pre-vote keeps a
 * follower that still hears the leader from voting for it. */
#ifndef ESCROW_RAFT_LEADERPROBE_H
#define ESCROW_RAFT_LEADERPROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define LEADERPROBE_TICK_MS 30      /* how often the leader's silence is looked at */
#define LEADERPROBE_SILENT_MS 90    /* three heartbeats missed: dial it */
#define LEADERPROBE_DIAL_MS 250     /* a dial not answered by then: given up */
#define LEADERPROBE_AGAIN_MS 100    /* at most one dial per this long */

/* What the owner sees of its Raft instance at the moment. */
struct leaderprobe_view {
	bool follower;        /* a voter following a known leader */
	unsigned leader;      /* its id */
	const char *address;  /* its Raft address "IP:PORT" (borrowed) */
	uint64_t term;
	uint64_t silent_ms;   /* since the leader was last heard */
};

struct leaderprobe;
typedef void (*leaderprobe_look_cb)(struct leaderprobe *p, struct leaderprobe_view *v);
/* The leader of v refused a dial: its process is gone. */
typedef void (*leaderprobe_gone_cb)(struct leaderprobe *p, const struct leaderprobe_view *v);
typedef void (*leaderprobe_close_cb)(struct leaderprobe *p);

struct leaderprobe {
	void *data;                 /* free for the owner */
	leaderprobe_look_cb look;
	leaderprobe_gone_cb gone;
	uint64_t dials;             /* dials made */
	uint64_t refused;           /* of them, refused (gone called) */
	/* private */
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_tcp_t tcp;
	uv_connect_t connect;
	bool dialing;               /* tcp is open, a dial in flight */
	uint64_t dial_started;
	uint64_t next_dial;
	unsigned target;            /* the leader and term of the dial in flight */
	uint64_t target_term;
	bool closing;
	int handles;                /* open handles, for close */
	leaderprobe_close_cb close_cb;
};

/* Starts looking every LEADERPROBE_TICK_MS; look and gone must be set. */
void leaderprobe_start(struct leaderprobe *p, uv_loop_t *loop);

/* Stops; cb runs once every handle is closed. */
void leaderprobe_close(struct leaderprobe *p, leaderprobe_close_cb cb);

#endif
