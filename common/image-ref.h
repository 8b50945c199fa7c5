/* Container image references (the names kubeadm, crictl and `docker save` use), parsed and
 * normalised as docker and containerd do (distribution's reference grammar):
 *
 *   nginx                        → docker.io/library/nginx:latest
 *   registry.k8s.io/pause:3.9    → registry.k8s.io/pause:3.9
 *   localhost:5000/a/b@sha256:…  → localhost:5000/a/b@sha256:… (no tag added)
 *
 * The first path component is a registry host when it holds '.' or ':', is "localhost", or
 * has upper-case letters; otherwise the name is on docker.io, and a one-component docker.io
 * name gets "library/". index.docker.io is docker.io.
 *
 * cirun's own registry serves an image under its path without the registry host, as sealer
 * does: registry.k8s.io/kube-apiserver:v1.28.7 is sea.hub:5000/kube-apiserver:v1.28.7, and
 * docker.io/library/busybox:1.36 is sea.hub:5000/library/busybox:1.36. Two images that
 * differ only by registry host therefore share one repository there.
 *
 * (installer/image-store.h's image_ref_* name cirun's own cluster images, a different
 * namespace with no registry host; these are imgref_*.) */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define IMGREF_NAME_MAX 255   /* domain + "/" + path, as distribution's NameTotalLengthMax */
#define IMGREF_TAG_MAX 128
#define IMGREF_DIGEST_SIZE 72 /* "sha256:" + 64 hex + NUL */
#define IMGREF_INPUT_MAX 1024

struct imgref {
	char domain[IMGREF_NAME_MAX + 1]; /* "docker.io", "registry.k8s.io", "host:5000" */
	char path[IMGREF_NAME_MAX + 1];	  /* "library/nginx", "kube-apiserver" */
	char tag[IMGREF_TAG_MAX + 1];	  /* "" when the reference is by digest only */
	char digest[IMGREF_DIGEST_SIZE];  /* "sha256:<hex>" or "" */
};

/* Parses and normalises s (":latest" added when there is neither tag nor digest). A 64-hex
 * string alone is refused (docker reads it as an image id, not a name). err says which
 * part is wrong and what is allowed. */
int imgref_parse(const char *s, struct imgref *ret, struct errbuf *err);

/* The full normalised form: "docker.io/library/nginx:latest", "a.io/b:t@sha256:…".
 * -ENAMETOOLONG when it does not fit in size. */
int imgref_format(const struct imgref *r, char *buf, size_t size);

/* The name as cirun's registry serves it, without any registry host: "kube-apiserver:v1.28.7",
 * "library/x@sha256:…". */
int imgref_format_local(const struct imgref *r, char *buf, size_t size);

/* The name a node pulls through cirun's registry: "<registry>/<path>[:tag][@digest]", with
 * registry "sea.hub:5000". -EINVAL when registry is not a valid registry host. */
int imgref_format_at(const struct imgref *r, const char *registry, char *buf, size_t size);

/* The second repository kubeadm asks cirun's registry for, when it is not the path: with an
 * imageRepository of its own, kubeadm (>= 1.21) pulls CoreDNS as REPO/coredns:TAG, although
 * upstream publishes it as registry.k8s.io/coredns/coredns:TAG (kubeadm adds the
 * "/coredns" only for its default repository). Writes "coredns" and returns 1 for that
 * image, returns 0 for any other; -ENAMETOOLONG when buf is too small. */
int imgref_kubeadm_alias(const struct imgref *r, char *buf, size_t size);

/* Validation of the parts alone, for names taken from elsewhere. */
bool imgref_path_valid(const char *path);  /* a repository path: "library/nginx" */
bool imgref_tag_valid(const char *tag);	   /* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
bool imgref_domain_valid(const char *domain);
