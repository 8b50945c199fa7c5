#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "cleanup.h"
#include "error.h"
#include "proto-msg.h"
#include "proto.h"

/* An in-memory stream: reads come from src, writes go to dst. */
struct mem {
	const uint8_t *src;
	size_t left;
	struct buf *dst;
	size_t max_chunk; /* short reads, as a network gives them */
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	struct mem *m = ctx;
	if (n > m->left)
		n = m->left;
	if (m->max_chunk && n > m->max_chunk)
		n = m->max_chunk;
	memcpy(buf, m->src, n);
	m->src += n;
	m->left -= n;
	return (ssize_t)n;
}

static ssize_t mem_write(void *ctx, const void *buf, size_t n)
{
	struct mem *m = ctx;
	return buf_append(m->dst, buf, n) < 0 ? -ENOSPC : (ssize_t)n;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct buf wire = BUF_INIT(1 << 22), payload = BUF_INIT(PROTO_MAX_FRAME);
	struct mem m = { .dst = &wire };
	struct proto_io io = { mem_read, mem_write, &m };
	struct frame f;
	char *s = NULL;
	uint32_t u;
	uint64_t v;

	proto_put_u32(&payload, PROTO_VERSION);
	proto_put_str(&payload, "0.1.0");
	assert_int_equal(proto_validate(MSG_HELLO, payload.data, payload.len), 0);
	assert_int_equal(proto_write_frame(&io, MSG_HELLO, payload.data, payload.len), 0);
	buf_reset(&payload);
	proto_put_str(&payload, "sha256:abc");
	proto_put_u64(&payload, 1ULL << 40);
	assert_int_equal(proto_write_frame(&io, MSG_LAYER_BEGIN, payload.data, payload.len), 0);
	static char big[100000];
	memset(big, 'x', sizeof(big));
	buf_reset(&payload);
	proto_put_blob(&payload, big, sizeof(big));
	assert_int_equal(proto_write_frame(&io, MSG_LAYER_DATA, payload.data, payload.len), 0);

	m.src = (const uint8_t *)wire.data;
	m.left = wire.len;
	m.max_chunk = 7;
	frame_init(&f);
	assert_int_equal(proto_read_frame(&io, &f), 0);
	assert_int_equal(f.type, MSG_HELLO);
	struct cursor c = cursor_of(f.payload.data, f.payload.len);
	assert_int_equal(cur_u32(&c, &u), 0);
	assert_int_equal(u, PROTO_VERSION);
	assert_int_equal(cur_str(&c, 100, &s), 0);
	assert_string_equal(s, "0.1.0");
	free(s);
	assert_int_equal(cur_end(&c), 0);

	assert_int_equal(proto_read_frame(&io, &f), 0);
	assert_int_equal(f.type, MSG_LAYER_BEGIN);
	c = cursor_of(f.payload.data, f.payload.len);
	assert_int_equal(cur_str(&c, 100, &s), 0);
	free(s);
	assert_int_equal(cur_u64(&c, &v), 0);
	assert_true(v == 1ULL << 40);

	assert_int_equal(proto_read_frame(&io, &f), 0);
	assert_int_equal(f.type, MSG_LAYER_DATA);
	assert_int_equal(proto_validate(f.type, f.payload.data, f.payload.len), 0);
	assert_int_equal(proto_read_frame(&io, &f), -EPIPE); /* clean end */
	frame_release(&f);
	buf_release(&wire);
	buf_release(&payload);
}

static int read_bytes(const void *bytes, size_t n)
{
	struct buf none = BUF_INIT(0);
	struct mem m = { .src = bytes, .left = n, .dst = &none };
	struct proto_io io = { mem_read, mem_write, &m };
	struct frame f;
	frame_init(&f);
	int r = proto_read_frame(&io, &f);
	frame_release(&f);
	return r;
}

static void test_bad_frames(void **state)
{
	(void)state;
	assert_int_equal(read_bytes("\0\0\0\5\1ab", 7), -EBADMSG);      /* truncated */
	assert_int_equal(read_bytes("\0\0", 2), -EBADMSG);              /* short header */
	assert_int_equal(read_bytes("\0\0\0\0\1", 5), -EBADMSG);        /* zero length */
	assert_int_equal(read_bytes("\0\x20\0\1\1", 5), -E2BIG);        /* over the cap */
	assert_int_equal(read_bytes("\0\0\0\1\xff", 5), -EBADMSG);      /* unknown type */
	assert_int_equal(read_bytes("\0\0\0\1\0", 5), -EBADMSG);        /* type 0 */
}

static void test_validate(void **state)
{
	(void)state;
	struct buf p = BUF_INIT(4096);

	/* a count that claims more items than bytes follow */
	proto_put_u32(&p, 1000000);
	assert_int_equal(proto_validate(MSG_LAYERS, p.data, p.len), -EBADMSG);
	buf_reset(&p);
	proto_put_u32(&p, 1);
	proto_put_str(&p, "sha256:x");
	assert_int_equal(proto_validate(MSG_LAYERS, p.data, p.len), 0);
	proto_put_u32(&p, 0); /* trailing garbage */
	assert_int_equal(proto_validate(MSG_LAYERS, p.data, p.len), -EBADMSG);
	buf_reset(&p);
	proto_put_blob(&p, "a\0b", 3);
	assert_int_equal(proto_validate(MSG_OK, p.data, p.len), -EBADMSG); /* NUL in a string */
	assert_int_equal(proto_validate(MSG_LAYER_DATA, p.data, p.len), 0); /* fine in a blob */
	assert_int_equal(proto_validate(0, p.data, p.len), -EBADMSG);
	assert_int_equal(proto_validate(MSG_FACTS_REQ, NULL, 0), 0);
	buf_release(&p);
	assert_string_equal(proto_msg_name(MSG_EXEC), "EXEC");
	assert_string_equal(proto_msg_name(999), "?");
}

/* SETUP's flags are optional (older clients send none); unknown bits are refused. */
static void test_setup_flags(void **state)
{
	(void)state;
	struct buf p = BUF_INIT(4096);
	struct msg_setup m;
	struct errbuf err = ERRBUF_INIT;

	proto_put_str(&p, "demo");
	proto_put_u32(&p, 1);
	proto_put_str(&p, "K");
	proto_put_str(&p, "v");
	assert_int_equal(msg_setup_decode(p.data, p.len, &m, &err), 0);
	assert_int_equal(m.flags, 0);
	msg_setup_release(&m);
	proto_put_u32(&p, PROTO_SETUP_FORCE);
	assert_int_equal(proto_validate(MSG_SETUP, p.data, p.len), 0);
	assert_int_equal(msg_setup_decode(p.data, p.len, &m, &err), 0);
	assert_int_equal(m.flags, PROTO_SETUP_FORCE);
	msg_setup_release(&m);
	p.len -= 4;
	proto_put_u32(&p, 1u << 7);
	assert_int_equal(msg_setup_decode(p.data, p.len, &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "flags"));
	proto_put_u32(&p, 0); /* trailing bytes after the flags */
	assert_int_equal(msg_setup_decode(p.data, p.len, &m, &err), -EBADMSG);
	buf_release(&p);
}

struct config_fields {
	const char *cluster, *name, *path, *data;
	uint32_t strategy;
	const char *file;
	uint32_t line;
};

static void put_config(struct buf *p, const struct config_fields *f)
{
	buf_reset(p);
	proto_put_str(p, f->cluster);
	proto_put_str(p, f->name);
	proto_put_str(p, f->path);
	proto_put_str(p, f->data);
	proto_put_u32(p, f->strategy);
	proto_put_str(p, f->file);
	proto_put_u32(p, f->line);
}

/* CONFIG: every field decoded and checked; each bad field refused by name. */
static void test_config_decode(void **state)
{
	static const struct config_fields good = { "demo", "app", "/etc/app.yaml", "a: 1\n",
						   CONFIG_MERGE, "Clusterfile", 12 };
	static const struct {
		struct config_fields f;
		const char *why;
	} bad[] = {
		{ { "../x", "app", "etc/a", "", 0, "F", 1 }, "cluster" },
		{ { "demo", "", "etc/a", "", 0, "F", 1 }, "name" },
		{ { "demo", "a\nb", "etc/a", "", 0, "F", 1 }, "name" },
		{ { "demo", "app", "etc/../../x", "", 0, "F", 1 }, "path" },
		{ { "demo", "app", "", "", 0, "F", 1 }, "path" },
		{ { "demo", "app", "/", "", 0, "F", 1 }, "path" },
		{ { "demo", "app", "etc/a\x01", "", 0, "F", 1 }, "path" },
		{ { "demo", "app", "etc/a", "", 4, "F", 1 }, "strategy" },
		{ { "demo", "app", "etc/a", "", 0, "", 1 }, "file" },
		{ { "demo", "app", "etc/a", "", 0, "F\x1b[2J", 1 }, "file" },
	};
	struct buf p = BUF_INIT(1 << 20);
	struct msg_config m;
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	put_config(&p, &good);
	assert_int_equal(proto_validate(MSG_CONFIG, p.data, p.len), 0);
	assert_int_equal(msg_config_decode(p.data, p.len, &m, &err), 0);
	assert_string_equal(m.cluster, "demo");
	assert_string_equal(m.doc.name, "app");
	assert_string_equal(m.doc.path, "/etc/app.yaml");
	assert_string_equal(m.doc.data, "a: 1\n");
	assert_int_equal(m.doc.strategy, CONFIG_MERGE);
	assert_string_equal(m.doc.file, "Clusterfile");
	assert_int_equal(m.doc.line, 12);
	msg_config_release(&m);
	assert_string_equal(proto_msg_name(MSG_CONFIG), "CONFIG");

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		put_config(&p, &bad[i].f);
		errbuf_clear(&err);
		assert_int_equal(msg_config_decode(p.data, p.len, &m, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "malformed CONFIG"));
		assert_non_null(strstr(err.msg, bad[i].why));
	}

	/* truncated at every byte, and a trailing byte */
	put_config(&p, &good);
	for (size_t n = 0; n < p.len; n++) {
		assert_int_equal(msg_config_decode(p.data, n, &m, &err), -EBADMSG);
		assert_int_equal(proto_validate(MSG_CONFIG, p.data, n), -EBADMSG);
	}
	proto_put_u32(&p, 0);
	assert_int_equal(msg_config_decode(p.data, p.len, &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing"));

	/* data over its cap */
	_cleanup_free_ char *big = xmalloc(MSG_MAX_CONFIG_DATA + 2);
	memset(big, 'x', MSG_MAX_CONFIG_DATA + 1);
	big[MSG_MAX_CONFIG_DATA + 1] = '\0';
	struct config_fields huge = good;
	huge.data = big;
	put_config(&p, &huge);
	assert_int_equal(msg_config_decode(p.data, p.len, &m, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "data"));
	buf_release(&p);
}

static void put_import(struct buf *p, const char *cluster, const char *archive)
{
	buf_reset(p);
	proto_put_str(p, cluster);
	proto_put_str(p, archive);
}

/* REGISTRY_IMPORT: the archive is one plain file name of images/, never a path. */
static void test_registry_import_decode(void **state)
{
	static const struct {
		const char *cluster, *archive, *why;
	} bad[] = {
		{ "Demo", "a.tar", "cluster" },	  { "demo", "", "archive" },
		{ "demo", ".", "archive" },	  { "demo", "..", "archive" },
		{ "demo", "../x.tar", "archive" }, { "demo", "sub/x.tar", "archive" },
		{ "demo", "/etc/shadow", "archive" }, { "demo", "a\nb.tar", "archive" },
	};
	struct buf p = BUF_INIT(1 << 20);
	struct msg_registry_import m;
	struct errbuf err = ERRBUF_INIT;
	char big[MSG_MAX_ARCHIVE_NAME + 2];
	(void)state;

	put_import(&p, "demo", "pause.tar");
	assert_int_equal(proto_validate(MSG_REGISTRY_IMPORT, p.data, p.len), 0);
	assert_int_equal(msg_registry_import_decode(p.data, p.len, &m, &err), 0);
	assert_string_equal(m.cluster, "demo");
	assert_string_equal(m.archive, "pause.tar");
	msg_registry_import_release(&m);
	assert_string_equal(proto_msg_name(MSG_REGISTRY_IMPORT), "REGISTRY_IMPORT");
	/* "..x.tar" and ".hidden" are file names too */
	put_import(&p, "demo", "..x.tar");
	assert_int_equal(msg_registry_import_decode(p.data, p.len, &m, &err), 0);
	msg_registry_import_release(&m);

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		put_import(&p, bad[i].cluster, bad[i].archive);
		errbuf_clear(&err);
		assert_int_equal(msg_registry_import_decode(p.data, p.len, &m, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "malformed REGISTRY_IMPORT"));
		assert_non_null(strstr(err.msg, bad[i].why));
	}

	put_import(&p, "demo", "pause.tar");
	for (size_t n = 0; n < p.len; n++) {
		assert_int_equal(msg_registry_import_decode(p.data, n, &m, &err), -EBADMSG);
		assert_int_equal(proto_validate(MSG_REGISTRY_IMPORT, p.data, n), -EBADMSG);
	}
	proto_put_u32(&p, 0);
	assert_int_equal(msg_registry_import_decode(p.data, p.len, &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing"));

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put_import(&p, "demo", big);
	assert_int_equal(msg_registry_import_decode(p.data, p.len, &m, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "archive"));
	buf_release(&p);
}

static void put_imported(struct buf *p, const char *detail, const char *const *hosts, size_t n)
{
	buf_reset(p);
	proto_put_str(p, detail);
	proto_put_u32(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		proto_put_str(p, hosts[i]);
}

/* REGISTRY_IMPORTED: the registry hosts become certs.d directory names on every host:
 * HOST[:PORT] only, each once, capped. */
static void test_registry_imported_decode(void **state)
{
	static const char *const good[] = { "registry.k8s.io", "ghcr.io", "myreg.example:5000",
					    "localhost:5000", "Reg.Example" };
	static const char *const bad[] = { "", "../etc", "a/b", ".hidden", "-x.io", "a.io:",
					   "a.io:0", "a.io:65536", "a.io:123456", "a.io:5x",
					   "[fd00::1]:5000", "a.io:5000:1", "a\nb", ":5000" };
	const char *hosts[MSG_MAX_REGISTRY_SOURCES + 1];
	char names[MSG_MAX_REGISTRY_SOURCES + 1][16];
	struct buf p = BUF_INIT(1 << 20);
	struct msg_registry_imported m;
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	assert_string_equal(proto_msg_name(MSG_REGISTRY_IMPORTED), "REGISTRY_IMPORTED");
	put_imported(&p, "2 images: a b", good, ELEMENTSOF(good));
	assert_int_equal(proto_validate(MSG_REGISTRY_IMPORTED, p.data, p.len), 0);
	assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), 0);
	assert_string_equal(m.detail, "2 images: a b");
	assert_int_equal(m.n, ELEMENTSOF(good));
	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		assert_string_equal(m.sources[i], good[i]);
	msg_registry_imported_release(&m);
	put_imported(&p, "0 images", NULL, 0);
	assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), 0);
	assert_int_equal(m.n, 0);
	msg_registry_imported_release(&m);

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		const char *two[] = { "ghcr.io", bad[i] };
		put_imported(&p, "d", two, 2);
		errbuf_clear(&err);
		assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "malformed REGISTRY_IMPORTED: registry host"));
	}
	/* twice the same host */
	const char *dup[] = { "ghcr.io", "quay.io", "ghcr.io" };
	put_imported(&p, "d", dup, 3);
	assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "listed twice"));
	/* the cap, and a count the payload cannot hold */
	for (size_t i = 0; i < ELEMENTSOF(hosts); i++) {
		snprintf(names[i], sizeof(names[i]), "r%zu.io", i);
		hosts[i] = names[i];
	}
	put_imported(&p, "d", hosts, MSG_MAX_REGISTRY_SOURCES);
	assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), 0);
	msg_registry_imported_release(&m);
	put_imported(&p, "d", hosts, MSG_MAX_REGISTRY_SOURCES + 1);
	assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "registry hosts"));
	put_imported(&p, "d", hosts, 1);
	p.data[p.len - 10] = 9; /* the count: 9 hosts in the room of one */
	assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), -EBADMSG);
	/* truncated anywhere, trailing bytes */
	put_imported(&p, "d", good, 2);
	for (size_t n = 0; n < p.len; n++) {
		assert_int_equal(msg_registry_imported_decode(p.data, n, &m, &err), -EBADMSG);
		assert_int_equal(proto_validate(MSG_REGISTRY_IMPORTED, p.data, n), -EBADMSG);
	}
	proto_put_u32(&p, 0);
	assert_int_equal(msg_registry_imported_decode(p.data, p.len, &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing"));
	assert_int_equal(proto_validate(MSG_REGISTRY_IMPORTED, p.data, p.len), -EBADMSG);
	buf_release(&p);
}

static void put_kubeadm(struct buf *p, const char *cluster, const char *name, const char *data)
{
	buf_reset(p);
	proto_put_str(p, cluster);
	proto_put_str(p, name);
	proto_put_str(p, data);
}

/* KUBEADM_CONFIG: a kubeadm-NAME.yaml file name (never a path) and YAML text */
static void test_kubeadm_config_decode(void **state)
{
	static const struct {
		const char *cluster, *name, *data, *why;
	} bad[] = {
		{ "Demo", "kubeadm-init.yaml", "a: 1\n", "cluster" },
		{ "demo", "", "a: 1\n", "name" },
		{ "demo", "init.yaml", "a: 1\n", "name" },
		{ "demo", "kubeadm-.yaml", "a: 1\n", "name" },
		{ "demo", "kubeadm-init.yml", "a: 1\n", "name" },
		{ "demo", "kubeadm-../x.yaml", "a: 1\n", "name" },
		{ "demo", "kubeadm-a/b.yaml", "a: 1\n", "name" },
		{ "demo", "kubeadm-INIT.yaml", "a: 1\n", "name" },
		{ "demo", "kubeadm-init.yaml/", "a: 1\n", "name" },
		{ "demo", "kubeadm-0123456789012345678901234567890123.yaml", "a: 1\n", "name" },
		{ "demo", "kubeadm-init.yaml", "a: \x1b[2J\n", "data" },
	};
	struct buf p = BUF_INIT(1 << 20);
	struct msg_kubeadm_config m;
	struct errbuf err = ERRBUF_INIT;
	char *big = malloc(MSG_MAX_KUBEADM_CONFIG + 2);
	(void)state;

	put_kubeadm(&p, "demo", "kubeadm-init.yaml", "kind: InitConfiguration\n\tx: \"\xc3\xa9\"\r\n");
	assert_int_equal(proto_validate(MSG_KUBEADM_CONFIG, p.data, p.len), 0);
	assert_int_equal(msg_kubeadm_config_decode(p.data, p.len, &m, &err), 0);
	assert_string_equal(m.cluster, "demo");
	assert_string_equal(m.name, "kubeadm-init.yaml");
	assert_non_null(strstr(m.data, "InitConfiguration"));
	msg_kubeadm_config_release(&m);
	assert_string_equal(proto_msg_name(MSG_KUBEADM_CONFIG), "KUBEADM_CONFIG");

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		put_kubeadm(&p, bad[i].cluster, bad[i].name, bad[i].data);
		errbuf_clear(&err);
		assert_int_equal(msg_kubeadm_config_decode(p.data, p.len, &m, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "malformed KUBEADM_CONFIG"));
		if (!strstr(err.msg, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].why);
	}
	put_kubeadm(&p, "demo", "kubeadm-join.yaml", "a: 1\n");
	for (size_t n = 0; n < p.len; n++) {
		assert_int_equal(msg_kubeadm_config_decode(p.data, n, &m, &err), -EBADMSG);
		assert_int_equal(proto_validate(MSG_KUBEADM_CONFIG, p.data, n), -EBADMSG);
	}
	proto_put_u32(&p, 0);
	assert_int_equal(msg_kubeadm_config_decode(p.data, p.len, &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing"));

	memset(big, 'x', MSG_MAX_KUBEADM_CONFIG + 1);
	big[MSG_MAX_KUBEADM_CONFIG + 1] = '\0';
	put_kubeadm(&p, "demo", "kubeadm-init.yaml", big);
	assert_int_equal(msg_kubeadm_config_decode(p.data, p.len, &m, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "data"));
	free(big);
	buf_release(&p);
}

static void test_clean_decode(void **state)
{
	static const char *const bad[] = { "", "..", "../etc", "a/b", "Demo", "-x" };
	struct buf p = BUF_INIT(1 << 20);
	struct errbuf err = ERRBUF_INIT;
	char *cluster = NULL;
	(void)state;

	proto_put_str(&p, "demo");
	assert_int_equal(proto_validate(MSG_CLEAN, p.data, p.len), 0);
	assert_int_equal(msg_clean_decode(p.data, p.len, &cluster, &err), 0);
	assert_string_equal(cluster, "demo");
	free(cluster);
	assert_string_equal(proto_msg_name(MSG_CLEAN), "CLEAN");
	for (size_t n = 0; n < p.len; n++)
		assert_int_equal(msg_clean_decode(p.data, n, &cluster, &err), -EBADMSG);
	proto_put_u32(&p, 0);
	assert_int_equal(msg_clean_decode(p.data, p.len, &cluster, &err), -EBADMSG);
	assert_int_equal(proto_validate(MSG_CLEAN, p.data, p.len), -EBADMSG);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		buf_reset(&p);
		proto_put_str(&p, bad[i]);
		errbuf_clear(&err);
		assert_int_equal(msg_clean_decode(p.data, p.len, &cluster, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "cluster"));
	}
	buf_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_setup_flags),
		cmocka_unit_test(test_config_decode),
		cmocka_unit_test(test_registry_import_decode),
		cmocka_unit_test(test_registry_imported_decode),
		cmocka_unit_test(test_kubeadm_config_decode),
		cmocka_unit_test(test_clean_decode),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
