/* Logging to stderr: one line per event with time, level, node id and message. */
#ifndef ESCROW_LOG_H
#define ESCROW_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the node id shown on each line and the most verbose level printed. */
void log_init(unsigned node_id, int level);

/* "2026-11-28T20:15:10.123Z INFO node=1 message" on stderr. Never pass a
 * recovery password. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* True when level would be printed (to skip building costly messages). */
int log_enabled(int level);

#endif
