/* Builds small layer tars for tests, with libarchive. */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <sys/stat.h>

struct tentry {
	char type;		/* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' char dev, 'b' block dev */
	const char *path;
	const char *data;	/* file content, or link target */
	unsigned mode;		/* permission bits; 0 = default */
	const char *xname;	/* one xattr, optional */
	const char *xvalue;
	unsigned uid;
	unsigned rdev_major, rdev_minor;
	size_t xsize;		/* the xattr value's size when it holds NULs; 0 = strlen */
};

/* filter: "none", "gzip", "zstd". Returns 0 or -1. */
static inline int write_layer(const char *file, const char *filter, const struct tentry *t, size_t n)
{
	struct archive *a = archive_write_new();
	int ok = 0;

	archive_write_set_format_pax_restricted(a);
	if (strcmp(filter, "gzip") == 0)
		archive_write_add_filter_gzip(a);
	else if (strcmp(filter, "zstd") == 0)
		archive_write_add_filter_zstd(a);
	if (archive_write_open_filename(a, file) != ARCHIVE_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = 0;
		archive_entry_set_pathname(e, t[i].path);
		archive_entry_set_uid(e, t[i].uid);
		archive_entry_set_gid(e, t[i].uid);
		archive_entry_set_mtime(e, 1700000000, 0);
		switch (t[i].type) {
		case 'f':
			len = t[i].data ? strlen(t[i].data) : 0;
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, t[i].mode ? t[i].mode : 0644);
			archive_entry_set_size(e, (la_int64_t)len);
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, t[i].mode ? t[i].mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, t[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_hardlink(e, t[i].data);
			break;
		case 'c':
		case 'b':
			archive_entry_set_filetype(e, t[i].type == 'c' ? AE_IFCHR : AE_IFBLK);
			archive_entry_set_perm(e, 0600);
			archive_entry_set_rdevmajor(e, t[i].rdev_major);
			archive_entry_set_rdevminor(e, t[i].rdev_minor);
			break;
		}
		if (t[i].xname)
			archive_entry_xattr_add_entry(e, t[i].xname, t[i].xvalue,
						      t[i].xsize ? t[i].xsize : strlen(t[i].xvalue));
		if (archive_write_header(a, e) != ARCHIVE_OK)
			ok = -1;
		if (len && archive_write_data(a, t[i].data, len) != (la_ssize_t)len)
			ok = -1;
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		ok = -1;
	archive_write_free(a);
	return ok;
}
