/*
 * manifestwrite.h - changes to tenants, as commits to the manifest
 * repository.
 *
 * In a GitOps controller nothing may bypass Git: a tenant created,
 * replaced, changed or removed through the API is one commit a reviewer
 * can read and revert, pushed to the tracked branch (or to a branch of
 * its own for review), and the passes apply it like any other.
 *
 * One request is one run, on a thread that may block (the daemon runs it
 * on the libuv threadpool, one at a time):
 *
 *   1. fetch the tracked branch into the writer's own mirror (a source
 *      of its own: the daemon gives it <cacheDir>/api, so writes never
 *      wait for a pass's lock nor a pass for a write);
 *   2. make the file's new text: the document as given (a JSON one
 *      written as YAML), the old text with values set in place
 *      (yamledit.h: comments and formatting kept byte for byte outside
 *      them), or no file;
 *   3. validate the would-be repository -- the tip's files with this one
 *      changed -- with the manifest loader, exactly as `tenantd validate`:
 *      a problem in the file, or one elsewhere that the tip did not have
 *      (a network now overlapping), refuses the request with every such
 *      problem at its position, and nothing is written;
 *   4. commit it on the tip, authored by whoever asked (the committer is
 *      tenantd), the message ending in the trailer
 *      "Tenantd-Request: <id>";
 *   5. push it.  When the branch moved meanwhile, the new tip is fetched:
 *      if the file is as it was, the change is made again on the new tip
 *      (validated again); if it changed, a patch whose values are as they
 *      were is applied to the new text, and anything else is a conflict,
 *      answered as such (MW_CONFLICT) with nothing written.  Another
 *      writer's commit is never lost, and neither is this one silently;
 * and, as a call of its own (the daemon makes it when no pass is touching
 * the providers), manifestwrite_plan():
 *   6. plan the tenant at the new commit against what the providers hold
 *      (as `tenantd plan --format json` prints it), for the answer.
 *
 * The writer keeps the manifests it last loaded, so a request parses the
 * files that changed since the last one, not the whole repository.
 *
 *   struct manifestwrite *w;
 *   manifestwrite_new(&w, &source_opts);   -- copies what it needs
 *   manifestwrite_run(w, &rq, &res);       -- any one thread at a time
 *   if (res.status == MW_COMMITTED)
 *     manifestwrite_plan(w, &rq, &res);    -- res.plan, or res.plan_error
 *   ... res.status, res.commit, res.plan ...
 *   manifestwrite_result_release(&res);
 *   manifestwrite_free(w);
 */
#ifndef TD_MANIFESTWRITE_H
#define TD_MANIFESTWRITE_H

#include "base/compat.h"

#include <jansson.h>

#include "base/diag.h"
#include "git/source.h"
#include "manifest/yamledit.h"

enum mw_op {
  MW_CREATE,  /* a new tenant: the document names it */
  MW_REPLACE, /* the tenant's file becomes the document */
  MW_PATCH,   /* values set in the tenant's file */
  MW_DELETE,  /* the tenant's file removed */
};

/* One value a patch sets (yamledit.h paths: "spec.tier"). */
struct mw_set {
  const char *path;
  struct yamledit_value value;
};

struct manifestwrite_request {
  unsigned version;
  enum mw_op op;
  /* The tenant (a DNS label); NULL for MW_CREATE: metadata.name. */
  const char *tenant;
  /* MW_CREATE, MW_REPLACE: the document, YAML (written as it is) or,
   * with document_json, JSON (written as YAML, keys in their order). */
  const char *document;
  size_t document_len;
  bool document_json;
  const struct mw_set *sets; /* MW_PATCH */
  size_t nsets;
  /* The commit: its subject ("api: suspend acme"; NULL: "api: add
   * tenant acme", or replace, change, remove), who asked (the author),
   * what was asked ("PATCH /api/v1/tenants/acme", a line of the body)
   * and the request's id (the Tenantd-Request trailer). */
  const char *subject;
  const char *author_name, *author_email;
  const char *origin;
  const char *request_id; /* letters, digits and '-' */
  /* Push to a new branch tenantd/api/<tenant>-<request id> instead of
   * the tracked branch. */
  bool to_branch;
  /* The Tenantd-Allow-Delete trailer (the blast-radius override), or -1. */
  long allow_delete;
  /* manifestwrite_plan(): provider instances ({"<name>": {"type":
   * ...}}, borrowed) and calls in flight. */
  const json_t *providers;
  unsigned concurrency;
  /* For tests: called after each commit is made, before it is pushed
   * (attempt 1, 2, ...). */
  void (*before_push)(unsigned attempt, void *arg);
  void *before_push_arg;
};

#define MANIFESTWRITE_REQUEST_VERSION 1

/* How a request ended; mgmt.c answers each with its HTTP status. */
enum mw_status {
  MW_COMMITTED,   /* 202: pushed; commit, branch and plan say the rest */
  MW_UNCHANGED,   /* 200: the file already says so; nothing committed */
  MW_BAD_REQUEST, /* 400: the body is not a document (JSON syntax) */
  MW_INVALID,     /* 422: diags say where; nothing written */
  MW_NOT_FOUND,   /* 404: no such tenant */
  MW_EXISTS,      /* 409: MW_CREATE of a tenant that has a file */
  MW_CONFLICT,    /* 409: the file changed under the request */
  MW_UNREACHABLE, /* 503: the repository could not be fetched or pushed */
  MW_REFUSED,     /* 502: the repository refused the push (a hook, ...) */
  MW_ERROR,       /* 500: anything else; message says what */
};

struct manifestwrite_result {
  enum mw_status status;
  char message[1024];         /* why, for every status but committed */
  char tenant[64];            /* the tenant the request was about */
  char path[96];              /* its file: tenants/<name>.yaml */
  char commit[SOURCE_ID_LEN]; /* MW_COMMITTED: the commit pushed */
  char base[SOURCE_ID_LEN];   /* the tip it was made on */
  char branch[256];           /* where it was pushed */
  unsigned attempts;          /* pushes tried */
  struct diag_list diags;     /* MW_INVALID: the problems, sorted */
  char *document;             /* MW_INVALID: the text validated, when
                                 * it is not the body as sent */
  char *plan;                 /* MW_COMMITTED: the plan, JSON text */
  char plan_error[512];       /* or why there is none */
};

struct manifestwrite;

/*
 * A writer for the repository `o` names; the options (strings included)
 * are copied.  Nothing is opened until a run.
 */
int manifestwrite_new(struct manifestwrite **out, const struct source_opts *o);

/*
 * Runs one request (see above).  Always fills `res` (release it);
 * returns 0 when the request was judged (res->status says how), -1 only
 * for a caller's mistake (a bad version).
 */
int manifestwrite_run(struct manifestwrite *w,
                      const struct manifestwrite_request *rq,
                      struct manifestwrite_result *res);

/*
 * Plans the tenant at res->commit (res->status MW_COMMITTED) with
 * rq->providers, into res->plan (JSON text) or res->plan_error.  The
 * providers are opened for reading; the caller keeps passes away from
 * them meanwhile (the daemon does).  Returns 0.
 */
int manifestwrite_plan(struct manifestwrite *w,
                       const struct manifestwrite_request *rq,
                       struct manifestwrite_result *res);

void manifestwrite_result_release(struct manifestwrite_result *res);

void manifestwrite_free(struct manifestwrite *w);

#endif
