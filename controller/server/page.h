/*
 * page.h - the status page, GET /: one self-contained HTML file
 * (controller/server/page.html, compiled in by the Makefile) that reads
 * the JSON API from the browser.
 *
 * It is served with headers that let it run its own inline script and
 * style and nothing else: a Content-Security-Policy naming their SHA-256
 * hashes (no other script, no inline handler, no external load, no
 * framing; fetches to this origin only), nosniff, no referrer, no
 * caching.
 */
#ifndef TD_PAGE_H
#define TD_PAGE_H

#include "base/compat.h"

/* The page's bytes (the Makefile's status_page rule). */
extern const char server_status_page[];
extern const size_t server_status_page_len;

/* The headers above as "Name: value\r\n" lines, computed on first use;
 * static storage, loop thread only. */
const char *page_headers(void);

#endif
