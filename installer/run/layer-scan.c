/* The one walk over the image's layers before any host is touched: each tar header, in
 * layer order, to what registry.c (images/) and kubeadm.c (bin/kubeadm, etc/kubeadm.yml)
 * account, instead of each module decompressing every layer on its own (a base image's
 * images/ is most of its bytes). Only etc/kubeadm.yml's data is read; every other entry's
 * data is skipped. */
#include "run-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>

#include "cleanup.h"

static int scan_layer(struct run *r, const char *blob, struct errbuf *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int rc = 0, ar;

	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK) {
		rc = errbuf_set(err, -EIO, "cannot read layer %s: %s", blob, archive_error_string(a));
		goto out;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(e);
		mode_t type = archive_entry_filetype(e);

		if (!path)
			continue;
		run_registry_entry(r, path, type);
		if (r->kubeadm_scan_rc >= 0)
			r->kubeadm_scan_rc = run_kubeadm_entry(r, a, path, type, blob,
							       &r->kubeadm_scan_err);
		archive_read_data_skip(a);
	}
	if (ar != ARCHIVE_EOF)
		rc = errbuf_set(err, -EIO, "cannot read layer %s: %s", blob, archive_error_string(a));
out:
	archive_read_free(a);
	return rc;
}

int run_layers_scan(struct run *r, struct errbuf *err)
{
	r->kubeadm_scan_rc = 0;
	errbuf_clear(&r->kubeadm_scan_err);
	for (size_t i = 0; i < r->nlayers; i++) {
		_cleanup_free_ char *blob = image_store_blob_path(r->st, r->digests[i]);
		int rc = scan_layer(r, blob, err);
		if (rc < 0)
			return rc;
	}
	r->layers_scanned = true;
	return 0;
}
