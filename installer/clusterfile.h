/* Clusterfile (sealer.cloud/v2): the Cluster document of a multi-document YAML file into
 * the cluster model. Errors name the file, line and field. Only the Cluster document is
 * read here; Plugin, Config and kubeadm documents are later parts of the run path. */
#pragma once

#include "cluster.h"
#include "error.h"

int clusterfile_load(const char *path, struct cluster *ret, struct errbuf *err);
int clusterfile_parse(const char *name, const char *text, size_t len, struct cluster *ret,
		      struct errbuf *err);
