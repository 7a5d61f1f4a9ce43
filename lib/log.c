/* Logging to stderr: one line per event with time, level, node id and message. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#define LOG_LINE_MAX 1024 /* below PIPE_BUF: one write() is atomic on a pipe */

static const char *const log_level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

/* Set once at startup, before any other thread exists. */
static unsigned log_node_id;
static int log_max_level = LOG_INFO;

void log_init(unsigned node_id, int level)
{
	log_node_id = node_id;
	if (level < LOG_ERROR)
		level = LOG_ERROR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_max_level = level;
}

int log_enabled(int level)
{
	return level <= log_max_level;
}

/* Writes "2026-11-28T20:15:10.123Z" into buf; returns its length. */
static size_t log_time(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL)
		return (size_t)snprintf(buf, size, "0000-00-00T00:00:00.000Z");
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	m = snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return n + (size_t)(m > 0 ? m : 0);
}

void log_msg(int level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t n, i, end;
	va_list ap;
	int m;

	if (!log_enabled(level))
		return;
	if (level < LOG_ERROR)
		level = LOG_ERROR;
	n = log_time(line, sizeof(line));
	if (log_node_id != 0)
		m = snprintf(line + n, sizeof(line) - n, " %s node=%u ",
			     log_level_names[level], log_node_id);
	else
		m = snprintf(line + n, sizeof(line) - n, " %s node=- ",
			     log_level_names[level]);
	n += (size_t)(m > 0 ? m : 0);

	/* Keep the last byte for the newline. */
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	end = n + (size_t)m;
	if (end > sizeof(line) - 2) {
		end = sizeof(line) - 2;
		line[end - 3] = line[end - 2] = line[end - 1] = '.';
	}
	/* A newline or other control byte inside a message (from a peer's
	 * error text, say) must not start a line of its own. */
	for (i = n; i < end; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	line[end++] = '\n';
	fwrite(line, 1, end, stderr);
	fflush(stderr);
}
