#include "kubeadm-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs-util.h"
#include "macro.h"
#include "name.h"
#include "proto-msg.h"

int kubeadm_file_write(const char *root, const char *cluster, const char *name, const char *data,
		       size_t len, char **ret_path, struct errbuf *err)
{
	_cleanup_free_ char *rel = NULL;
	_cleanup_close_ int rootfd = -1, dirfd = -1;
	int r;

	/* the decoder checked both; a caller that did not gets no path out of the tree */
	if (!cluster_name_valid(cluster) || !msg_kubeadm_name_valid(name))
		return errbuf_set(err, -EINVAL, "refusing the kubeadm config name '%s' of cluster '%s'",
				  name, cluster);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return errbuf_set(err, negative_errno(), "cannot open %s: %m", root);
	rel = xasprintf("data/%s", cluster);
	r = dir_open_beneath(rootfd, rel, false, &dirfd);
	if (r < 0)
		return errbuf_set(err, r, "cannot open %s/%s without following a symlink (has the "
				  "rootfs been assembled?): %s", root, rel, strerror(-r));
	r = write_file_atomic_at(dirfd, name, data, len, 0600);
	if (r < 0)
		return errbuf_set(err, r, "cannot write %s/%s/%s: %s", root, rel, name, strerror(-r));
	if (ret_path)
		*ret_path = xasprintf("%s/%s/%s", root, rel, name);
	return 0;
}
