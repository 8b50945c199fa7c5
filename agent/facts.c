#include "facts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "error.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cap_t, cap_free)

static char *unquote(char *v)
{
	size_t n = strlen(v);

	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
		v[--n] = '\0';
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

int os_release_parse(const char *text, size_t len, const char *key, char **ret)
{
	size_t klen = strlen(key);
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		size_t n = (size_t)(line_end - p);

		if (n > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			_cleanup_free_ char *v = xstrndup(p + klen + 1, n - klen - 1);
			*ret = xstrdup(unquote(v));
			return 0;
		}
		p = line_end + 1;
	}
	return -ENOENT;
}

int os_release_get(const char *path, const char *key, char **ret)
{
	_cleanup_buf_ struct buf content = BUF_INIT(64 * 1024);
	int r = buf_read_file(&content, path);

	if (r < 0)
		return r;
	return os_release_parse(content.data, content.len, key, ret);
}

static struct ynode *os_facts(void)
{
	static const char *const paths[] = { "/etc/os-release", "/usr/lib/os-release" };
	static const char *const keys[] = { "ID", "VERSION_ID", "PRETTY_NAME" };
	static const char *const names[] = { "id", "version_id", "pretty_name" };
	struct ynode *os = ynode_new_map();

	for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
		for (size_t p = 0; p < ELEMENTSOF(paths); p++) {
			_cleanup_free_ char *v = NULL;
			int r = os_release_get(paths[p], keys[k], &v);
			if (r == 0) {
				ynode_map_set(os, names[k], ynode_new_str(v));
				break;
			}
			/* /usr/lib/os-release is only the fallback when /etc has none. */
			if (r != -ENOENT || p == 0)
				if (access(paths[0], F_OK) == 0)
					break;
		}
	}
	return os;
}

static struct ynode *time_fact(void)
{
	struct timespec ts;
	struct tm tm;
	char date[32], out[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof(out), "%s.%06ldZ", date, ts.tv_nsec / 1000);
	return ynode_new_str(out);
}

static struct ynode *systemd_facts(void)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *version = NULL;
	struct ynode *sd = ynode_new_map();
	int r;

	/* sd_booted() is systemd's own test: /run/systemd/system exists only when systemd
	 * is the running init. */
	ynode_map_set(sd, "pid1", ynode_new_bool(sd_booted() > 0));
	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1",
					       "/org/freedesktop/systemd1",
					       "org.freedesktop.systemd1.Manager", "Version",
					       &error, &version);
	ynode_map_set(sd, "bus", ynode_new_bool(r >= 0));
	if (r >= 0) {
		ynode_map_set(sd, "version", ynode_new_str(version));
	} else {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s",
			 sd_bus_error_is_set(&error) ? error.message : strerror(-r));
		ynode_map_set(sd, "error", ynode_new_str(msg));
	}
	return sd;
}

static struct ynode *disk_fact(const char *path)
{
	struct statvfs st;

	if (statvfs(path, &st) < 0)
		return ynode_new_null();
	return ynode_new_uint((uint64_t)st.f_bavail * st.f_frsize);
}

static struct ynode *caps_fact(void)
{
	_cleanup_(cap_freep) cap_t caps = cap_get_proc();
	struct ynode *list = ynode_new_seq();

	if (!caps)
		return list;
	for (cap_value_t c = 0; c < (cap_value_t)cap_max_bits(); c++) {
		cap_flag_value_t v = CAP_CLEAR;
		if (cap_get_flag(caps, c, CAP_EFFECTIVE, &v) < 0 || v != CAP_SET)
			continue;
		char *name = cap_to_name(c);
		if (!name)
			continue;
		ynode_seq_append(list, ynode_new_str(name));
		cap_free(name);
	}
	return list;
}

int facts_collect(struct ynode **ret)
{
	struct ynode *f = ynode_new_map();
	struct utsname u;
	char host[256] = "";
	sd_id128_t mid;
	char mid_str[SD_ID128_STRING_MAX];

	uname(&u);
	gethostname(host, sizeof(host) - 1);
	ynode_map_set(f, "arch", ynode_new_str(u.machine));
	ynode_map_set(f, "os", os_facts());
	ynode_map_set(f, "kernel", ynode_new_str(u.release));
	ynode_map_set(f, "hostname", ynode_new_str(host));
	if (sd_id128_get_machine(&mid) >= 0)
		ynode_map_set(f, "machine_id", ynode_new_str(sd_id128_to_string(mid, mid_str)));
	else
		ynode_map_set(f, "machine_id", ynode_new_null());
	ynode_map_set(f, "time", time_fact());
	ynode_map_set(f, "systemd", systemd_facts());
	ynode_map_set(f, "var_lib_free_bytes", disk_fact("/var/lib"));
	ynode_map_set(f, "capabilities", caps_fact());
	*ret = f;
	return 0;
}
