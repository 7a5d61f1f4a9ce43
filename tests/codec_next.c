/* The command codec of the next format version, for tests/escrowd_next: an
 * escrowd built as a later release would be, writing and reading commands
 * of CODEC_VERSION 3 (set on the command line), with the same layout.
 * tests/test_upgrade.py runs it next to this build's escrowd. Linked before
 * raft/libraftglue.a, its codec_* symbols take the place of raft/codec.c's. */
#if !defined(CODEC_VERSION) || CODEC_VERSION < 3
#error "build with -DCODEC_VERSION=3 (or later)"
#endif
#include "raft/codec.c"
