/* containerd's containers through its API: namespaces List, then per
 * namespace containers List (id, labels, image, spec) and tasks List (pid,
 * status, exit status), joined by container id. The requests are empty
 * messages (all containers, all tasks); the responses are decoded by
 * protobuf-c from ctrd.proto. Every string is copied bounded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connrecipe/containerd.h"
#include "connrecipe/grpc.h"
#include "ctrd.pb-c.h"

#define MAX_NAMESPACES 64
#define MAX_LABELS 256
#define MAX_TEXT 4096

/* A bounded copy; NULL for a missing string. Empty is kept as "". */
static char *copy(const char *s, size_t max) {
  if (!s) return strdup("");
  size_t n = strnlen(s, max + 1);
  if (n > max) return NULL;
  return strndup(s, n);
}

static int valid_name(const char *s) {
  return s && s[0] && strnlen(s, CR_CTRD_MAX_ID + 1) <= CR_CTRD_MAX_ID;
}

int cr_ctrd_decode_namespaces(const uint8_t *msg, size_t len, cr_ctrd_list *out) {
  Crctrd__ListNamespacesResponse *r = crctrd__list_namespaces_response__unpack(NULL, len, msg);
  if (!r) return -EPROTO;
  int rc = 0;
  for (size_t i = 0; i < r->n_namespaces && out->nns < MAX_NAMESPACES && rc == 0; i++) {
    const char *name = r->namespaces[i]->name;
    if (!valid_name(name)) continue;
    char **v = realloc(out->namespaces, (out->nns + 1) * sizeof *v);
    if (!v) {
      rc = -ENOMEM;
      break;
    }
    out->namespaces = v;
    if (!(v[out->nns] = strdup(name)))
      rc = -ENOMEM;
    else
      out->nns++;
  }
  crctrd__list_namespaces_response__free_unpacked(r, NULL);
  return rc;
}

static int copy_labels(cr_ctrd_container *c, const Crctrd__Container *m) {
  size_t n = m->n_labels < MAX_LABELS ? m->n_labels : MAX_LABELS;
  c->labels = calloc(n ? n : 1, sizeof *c->labels);
  if (!c->labels) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    char *k = copy(m->labels[i]->key, MAX_TEXT), *v = copy(m->labels[i]->value, MAX_TEXT);
    if (!k || !v || !k[0]) { /* over long or nameless: left out */
      free(k);
      free(v);
      continue;
    }
    c->labels[c->nlabels++] = (cr_ctrd_label){k, v};
  }
  return 0;
}

static int copy_container(cr_ctrd_container *c, const Crctrd__Container *m, const char *ns) {
  c->ns = strdup(ns);
  c->id = strdup(m->id);
  c->image = copy(m->image, MAX_TEXT);
  if (!c->image) c->image = strdup("");
  if (!c->ns || !c->id || !c->image) return -ENOMEM;
  if (m->created_at) c->created_at = m->created_at->seconds;
  if (m->spec && m->spec->value.len && m->spec->value.len <= CR_CTRD_MAX_SPEC) {
    c->spec = malloc(m->spec->value.len);
    if (!c->spec) return -ENOMEM;
    memcpy(c->spec, m->spec->value.data, m->spec->value.len);
    c->spec_len = m->spec->value.len;
  }
  return copy_labels(c, m);
}

int cr_ctrd_decode_containers(const uint8_t *msg, size_t len, const char *ns, size_t max,
                              cr_ctrd_list *out) {
  Crctrd__ListContainersResponse *r = crctrd__list_containers_response__unpack(NULL, len, msg);
  if (!r) return -EPROTO;
  int rc = 0;
  for (size_t i = 0; i < r->n_containers && out->n < max && rc == 0; i++) {
    const Crctrd__Container *m = r->containers[i];
    if (!valid_name(m->id)) continue;
    cr_ctrd_container *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (!v) {
      rc = -ENOMEM;
      break;
    }
    out->v = v;
    memset(&v[out->n], 0, sizeof *v);
    rc = copy_container(&v[out->n], m, ns);
    out->n++; /* freed with the list, even half-filled */
  }
  crctrd__list_containers_response__free_unpacked(r, NULL);
  return rc;
}

/* A task's state joins its container's. tasks List lists init processes
 * only, and names the container in id (field 2), leaving container_id
 * empty (containerd 1.6); container_id is taken when set. */
int cr_ctrd_decode_tasks(const uint8_t *msg, size_t len, const char *ns, cr_ctrd_list *out) {
  Crctrd__ListTasksResponse *r = crctrd__list_tasks_response__unpack(NULL, len, msg);
  if (!r) return -EPROTO;
  for (size_t i = 0; i < r->n_tasks; i++) {
    const Crctrd__Process *t = r->tasks[i];
    const char *cid = t->container_id && t->container_id[0] ? t->container_id : t->id;
    if (!valid_name(cid)) continue;
    for (size_t k = 0; k < out->n; k++) {
      cr_ctrd_container *c = &out->v[k];
      if (c->has_task || strcmp(c->ns, ns) || strcmp(c->id, cid)) continue;
      c->has_task = 1;
      c->pid = t->pid;
      c->status = t->status;
      c->exit_status = t->exit_status;
      c->exit_reason = t->exit_reason;
      if (t->exited_at) c->exited_at = t->exited_at->seconds;
      break;
    }
  }
  crctrd__list_tasks_response__free_unpacked(r, NULL);
  return 0;
}

/* One unary call in namespace ns (NULL: none), decoded by decode. */
static int call(cr_grpc_conn *g, const char *method, const char *ns, uint8_t **resp, size_t *len,
                char *msg, size_t cap) {
  const char *md[2] = {"containerd-namespace", ns};
  int rc = cr_grpc_call(g, method, md, ns ? 1 : 0, NULL, 0, resp, len, msg, cap);
  if (rc) {
    size_t used = strlen(msg);
    char tail[200];
    snprintf(tail, sizeof tail, "%s", msg);
    snprintf(msg, cap, "%s%s%s", method, used ? ": " : "", tail);
  }
  return rc;
}

static int read_namespace(cr_grpc_conn *g, const char *ns, size_t max, cr_ctrd_list *out, char *msg,
                          size_t cap) {
  uint8_t *resp = NULL;
  size_t len = 0;
  int rc = call(g, "/containerd.services.containers.v1.Containers/List", ns, &resp, &len, msg, cap);
  if (rc) return rc;
  rc = cr_ctrd_decode_containers(resp, len, ns, max, out);
  free(resp);
  resp = NULL;
  if (rc == 0)
    rc = call(g, "/containerd.services.tasks.v1.Tasks/List", ns, &resp, &len, msg, cap);
  else
    snprintf(msg, cap, "containers List: %s",
             rc == -EPROTO ? "not a ListContainersResponse" : "no memory");
  if (rc) return rc;
  rc = cr_ctrd_decode_tasks(resp, len, ns, out);
  if (rc) snprintf(msg, cap, "tasks List: not a ListTasksResponse");
  free(resp);
  return rc;
}

int cr_containerd_read(const char *socket, const char *ns, int timeout_ms, size_t max,
                       cr_ctrd_list *out, char *msg, size_t cap) {
  memset(out, 0, sizeof *out);
  msg[0] = '\0';
  int rc = 0;
  const char *why;
  if ((rc = cr_grpc_lib_load(&why)) != 0) {
    snprintf(msg, cap, "cannot load HTTP/2 support: %s", why);
    return rc;
  }
  cr_grpc_conn *g = cr_grpc_connect(socket, timeout_ms, &rc);
  if (!g) {
    snprintf(msg, cap, "cannot connect");
    return rc;
  }
  if (ns) {
    char **v = malloc(sizeof *v);
    if (!v || !(v[0] = strdup(ns))) {
      free(v);
      rc = -ENOMEM;
    } else {
      out->namespaces = v;
      out->nns = 1;
    }
  } else {
    uint8_t *resp = NULL;
    size_t len = 0;
    rc = call(g, "/containerd.services.namespaces.v1.Namespaces/List", NULL, &resp, &len, msg, cap);
    if (rc == 0 && (rc = cr_ctrd_decode_namespaces(resp, len, out)))
      snprintf(msg, cap, "namespaces List: not a ListNamespacesResponse");
    free(resp);
  }
  for (size_t i = 0; rc == 0 && i < out->nns; i++)
    rc = read_namespace(g, out->namespaces[i], max, out, msg, cap);
  cr_grpc_close(g);
  return rc;
}

void cr_containerd_free(cr_ctrd_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    cr_ctrd_container *c = &l->v[i];
    free(c->ns);
    free(c->id);
    free(c->image);
    free(c->spec);
    for (size_t k = 0; k < c->nlabels; k++) {
      free(c->labels[k].key);
      free(c->labels[k].value);
    }
    free(c->labels);
  }
  free(l->v);
  for (size_t i = 0; i < l->nns; i++)
    free(l->namespaces[i]);
  free(l->namespaces);
  memset(l, 0, sizeof *l);
}
