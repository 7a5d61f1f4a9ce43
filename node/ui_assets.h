/* The web console's files (node/ui/), compiled into escrowd: node/ui_embed
 * writes node/ui_assets.c from them at build time. */
#ifndef ESCROW_UI_ASSETS_H
#define ESCROW_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *name;          /* path under /ui/, e.g. "js/api.js" */
	const char *type;          /* its Content-Type */
	const unsigned char *data;
	size_t len;
	const unsigned char *gz;   /* the same, gzip'ed; NULL when that is no smaller */
	size_t gz_len;
	const char *etag;          /* "\"...\"": a hash of data */
};

/* ui_assets_count files, then an entry whose name is NULL. */
extern const struct ui_asset ui_assets[];
extern const size_t ui_assets_count;

#endif
