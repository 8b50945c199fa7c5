/* The kubeadm config file a KUBEADM_CONFIG message carries, written where `kubeadm init|join
 * --config` reads it: ROOT/data/CLUSTER/NAME, mode 0600 (it holds the join token and the
 * certificate key), replaced atomically. The cluster's directory is reached from ROOT one
 * component at a time without following a symlink, and is never created here (ASSEMBLE made
 * it): a file of the cluster is never written through a link out of it. */
#pragma once

#include <stddef.h>

#include "error.h"

/* name: a plain file name as msg_kubeadm_name_valid() wants it. *ret_path: where it went. */
int kubeadm_file_write(const char *root, const char *cluster, const char *name, const char *data,
		       size_t len, char **ret_path, struct errbuf *err);
