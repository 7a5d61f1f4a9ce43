/* A build tool: writes the C file that compiles the web console's files
 * into escrowd (node/ui_assets.h).
 *
 *   ui_embed OUT.c SRCDIR node/ui/index.html node/ui/js/main.js ...
 *
 * Each file is read from SRCDIR/PATH and named by PATH without its
 * "node/ui/" prefix. It gets a Content-Type from its extension (an unknown
 * one is an error), an ETag (FNV-1a 64 of its bytes) and, when gzip -9
 * makes it at least 10% smaller, a compressed copy. OUT.c is written whole
 * or not at all. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "node/ui/"
#define FILE_MAX (4u << 20) /* a console file is far smaller */

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".json", "application/json"},
	{".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return NULL;
}

/* Reads all of stream into a malloc'ed buffer; NULL on error or over FILE_MAX. */
static unsigned char *slurp(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	unsigned char *buf = malloc(cap), *bigger;

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n < cap)
			continue;
		if (cap >= FILE_MAX) {
			free(buf);
			return NULL;
		}
		bigger = realloc(buf, cap * 2);
		if (bigger == NULL)
			free(buf);
		buf = bigger;
		cap *= 2;
	}
	if (buf != NULL && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* gzip -9 -n of path (no name or time inside: the build is reproducible). */
static unsigned char *gzip_file(const char *path, size_t *len)
{
	char cmd[4200];
	unsigned char *out;
	FILE *p;

	if (strchr(path, '\'') != NULL ||
	    (size_t)snprintf(cmd, sizeof cmd, "gzip -9 -n -c '%s'", path) >= sizeof cmd)
		return NULL;
	p = popen(cmd, "r");
	if (p == NULL)
		return NULL;
	out = slurp(p, len);
	if (pclose(p) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void write_bytes(FILE *out, const char *name, const unsigned char *p, size_t n)
{
	fprintf(out, "static const unsigned char %s[] = {", name);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s0x%02x,", i % 16 == 0 ? "\n\t" : "", p[i]);
	fprintf(out, "%s};\n", n == 0 ? "0" : "\n");
}

/* Writes file i's arrays; its table entry goes to entries. */
static int embed(FILE *out, FILE *entries, const char *srcdir, const char *rel, int i)
{
	char path[4096], var[32];
	const char *name = rel, *type;
	unsigned char *data = NULL, *gz = NULL;
	size_t len = 0, gz_len = 0;
	FILE *f;

	if (strncmp(name, PREFIX, strlen(PREFIX)) == 0)
		name += strlen(PREFIX);
	type = type_of(name);
	if (type == NULL) {
		fprintf(stderr, "ui_embed: %s: unknown file type (add it to ui_embed.c)\n", rel);
		return 1;
	}
	if (strpbrk(name, "\"\\") != NULL || (size_t)snprintf(path, sizeof path, "%s/%s", srcdir,
							       rel) >= sizeof path) {
		fprintf(stderr, "ui_embed: %s: bad file name\n", rel);
		return 1;
	}
	f = fopen(path, "rb");
	if (f != NULL) {
		data = slurp(f, &len);
		fclose(f);
	}
	if (data == NULL) {
		fprintf(stderr, "ui_embed: %s: cannot read (or over %u bytes)\n", path, FILE_MAX);
		return 1;
	}
	gz = gzip_file(path, &gz_len);
	if (gz != NULL && gz_len * 10 > len * 9) {
		free(gz);
		gz = NULL;
	}
	snprintf(var, sizeof var, "data%d", i);
	write_bytes(out, var, data, len);
	if (gz != NULL) {
		snprintf(var, sizeof var, "gz%d", i);
		write_bytes(out, var, gz, gz_len);
	}
	fprintf(entries, "\t{\"%s\", \"%s\", data%d, %zu, ", name, type, i, len);
	if (gz != NULL)
		fprintf(entries, "gz%d, %zu, ", i, gz_len);
	else
		fprintf(entries, "NULL, 0, ");
	fprintf(entries, "\"\\\"%016llx\\\"\"},\n", (unsigned long long)fnv1a(data, len));
	free(data);
	free(gz);
	return 0;
}

int main(int argc, char **argv)
{
	char tmp[4200];
	FILE *out, *entries;
	int rv = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: ui_embed OUT.c SRCDIR [node/ui/FILE...]\n");
		return 2;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]) >= sizeof tmp)
		return 2;
	out = fopen(tmp, "w");
	entries = tmpfile();
	if (out == NULL || entries == NULL) {
		perror("ui_embed");
		return 1;
	}
	fprintf(out, "/* Written by node/ui_embed from node/ui/: do not edit. */\n"
		     "#include \"node/ui_assets.h\"\n\n");
	for (int i = 3; i < argc && rv == 0; i++)
		rv = embed(out, entries, argv[2], argv[i], i - 3);
	fprintf(out, "\nconst struct ui_asset ui_assets[] = {\n");
	rewind(entries);
	for (int ch; (ch = fgetc(entries)) != EOF;)
		fputc(ch, out);
	fprintf(out, "\t{NULL, NULL, NULL, 0, NULL, 0, NULL},\n};\n"
		     "const size_t ui_assets_count = %d;\n", argc - 3);
	fclose(entries);
	if (fclose(out) != 0 || rv != 0 || rename(tmp, argv[1]) != 0) {
		if (rv == 0)
			perror("ui_embed");
		remove(tmp);
		return 1;
	}
	return 0;
}
