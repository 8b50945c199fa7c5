/* Layer fixtures are tables where unset fields mean "none". */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* The installer's agent client against a real agent_serve() in a child process over a
 * socketpair: hello, facts, layer upload (good and corrupt), assembly, a corrupted cache
 * entry, exec with env, output and timeout. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent-client.h"
#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "image-store.h"
#include "layer-helpers.h"
#include "serve.h"

struct session {
	pid_t pid;
	int fds[2];
	struct agent_client *ac;
	char *root;
};

/* When set, the agent runs with this file size limit and SIGXFSZ ignored: its writes past
 * it fail with EFBIG, as on a full disk (without root). */
static rlim_t agent_fsize_limit;

static int session_setup(void **state)
{
	struct session *s = calloc(1, sizeof(*s));
	int sv[2];

	if (tmpdir_setup(state) < 0)
		return -1;
	s->root = *state; /* the session owns the temp dir path now */
	setenv("CIRUN_AGENT_ROOT", s->root, 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	s->pid = fork();
	if (s->pid == 0) {
		close(sv[0]);
		if (agent_fsize_limit) {
			struct rlimit lim = { agent_fsize_limit, agent_fsize_limit };
			signal(SIGXFSZ, SIG_IGN);
			if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
				_exit(2);
		}
		_exit(agent_serve(sv[1], sv[1]) < 0 ? 1 : 0);
	}
	close(sv[1]);
	s->fds[0] = s->fds[1] = sv[0];
	agent_client_new(proto_io_fd(s->fds), &s->ac);
	*state = s;
	return 0;
}

static int session_teardown(void **state)
{
	struct session *s = *state;
	int status;

	close(s->fds[0]);
	waitpid(s->pid, &status, 0);
	agent_client_free(s->ac);
	*state = s->root;
	free(s);
	return tmpdir_teardown(state);
}

/* HELLO, then the host's lock: the agent changes nothing on a host before LOCK. */
static void session_hello(struct session *s)
{
	struct errbuf err = ERRBUF_INIT;
	char *detail = NULL;

	assert_int_equal(agent_client_hello(s->ac, NULL, &err), 0);
	assert_int_equal(agent_client_lock(s->ac, "demo", "run", "ctl-1", 4242, 0, &detail, &err), 0);
	assert_string_equal(detail, "");
	free(detail);
}

static const struct tentry layer_a[] = {
	{ 'd', "etc" }, { 'f', "etc/a.conf", "a" }, { 'f', "etc/gone", "g" },
	{ 'd', "scripts" }, { 'f', "scripts/init.sh", "echo \"init $CLUSTER_NAME\"\n", 0755 },
};
static const struct tentry layer_b[] = { { 'c', "etc/gone" }, { 'f', "etc/b.conf", "b" } };

/* writes a zstd layer and returns its digest and size */
static void make_layer(const char *root, const char *name, const struct tentry *t, size_t n,
		       char *digest, uint64_t *size)
{
	char path[4096], hex[SHA256_HEX_SIZE];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	assert_int_equal(write_layer(path, "zstd", t, n), 0);
	assert_int_equal(sha256_file(path, hex, size), 0);
	sprintf(digest, "sha256:%s", hex);
}

static int open_in(const char *root, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	return open(path, O_RDONLY);
}

static void test_hello_and_facts(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	char *version = NULL, *facts = NULL;

	assert_int_equal(agent_client_hello(s->ac, &version, &err), 0);
	assert_string_equal(version, CIRUN_VERSION);
	assert_int_equal(agent_client_facts(s->ac, &facts, &err), 0);
	assert_non_null(strstr(facts, "hostname: "));
	assert_non_null(strstr(facts, "capabilities:"));
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
	free(version);
	free(facts);
}

static void test_layers_and_assembly(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	char da[80], db[80];
	uint64_t sa, sb;
	char *digests[2] = { da, db };
	uint64_t sizes[2];
	bool have[2];
	_cleanup_free_ char *detail = NULL;

	make_layer(s->root, "a.tar.zst", layer_a, ELEMENTSOF(layer_a), da, &sa);
	make_layer(s->root, "b.tar.zst", layer_b, ELEMENTSOF(layer_b), db, &sb);
	sizes[0] = sa;
	sizes[1] = sb;
	session_hello(s);
	assert_int_equal(agent_client_layers(s->ac, digests, sizes, 2, have, &err), 0);
	assert_false(have[0] || have[1]);

	int fd = open_in(s->root, "a.tar.zst");
	assert_int_equal(agent_client_send_layer(s->ac, da, sa, fd, NULL, NULL, &err), 0);
	close(fd);
	/* b announced under a's digest: refused on arrival, not kept */
	fd = open_in(s->root, "b.tar.zst");
	assert_int_equal(agent_client_send_layer(s->ac, da + 0, sb, fd, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "arrived corrupt"));
	close(fd);
	fd = open_in(s->root, "b.tar.zst");
	assert_int_equal(agent_client_send_layer(s->ac, db, sb, fd, NULL, NULL, &err), 0);
	close(fd);
	assert_int_equal(agent_client_layers(s->ac, digests, sizes, 2, have, &err), 0);
	assert_true(have[0] && have[1]);

	assert_int_equal(agent_client_assemble(s->ac, "demo", "img", digests, 2, &detail, NULL, &err), 0);
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/data/demo/rootfs/etc/b.conf", s->root);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/data/demo/rootfs/etc/gone", s->root);
	assert_true(stat(p, &st) < 0);

	/* the one pass left no compressed copy, and the rootfs shares the store's inodes */
	snprintf(p, sizeof(p), "%s/layers/%s", s->root, db + 7);
	assert_true(stat(p, &st) < 0);
	struct stat in_store;
	snprintf(p, sizeof(p), "%s/layers/unpacked/%s/tree/etc/b.conf", s->root, db + 7);
	assert_int_equal(stat(p, &in_store), 0);
	snprintf(p, sizeof(p), "%s/data/demo/rootfs/etc/b.conf", s->root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_ino, in_store.st_ino);

	/* a stored layer that went bad is found, dropped and named */
	snprintf(p, sizeof(p), "%s/layers/unpacked/%s/tree/etc/b.conf", s->root, db + 7);
	int w = open(p, O_WRONLY);
	assert_true(pwrite(w, "XXXX", 4, 0) == 4);
	close(w);
	snprintf(p, sizeof(p), "%s/layers/unpacked/%s", s->root, db + 7);
	struct agent_layer_fault fault = { 0 };
	assert_int_equal(agent_client_assemble(s->ac, "demo", "img", digests, 2, NULL, &fault, &err),
			 -EBADMSG);
	assert_int_equal(fault.fault, LAYER_FAULT_CORRUPT);
	assert_string_equal(fault.digest, db);
	assert_non_null(strstr(errbuf_msg(&err), "of image img in the host cache is corrupt"));
	free(fault.digest);
	assert_true(stat(p, &st) < 0);
	/* and the previous rootfs is still there */
	snprintf(p, sizeof(p), "%s/data/demo/rootfs/etc/b.conf", s->root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(agent_client_assemble(s->ac, "../x", "img", digests, 2, NULL, NULL, &err),
			 -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "malformed ASSEMBLE: cluster"));
}

/* A layer whose bytes match its digest but whose content is refused is the image's
 * fault: named with the image, kept in the cache, never reported as corrupt. */
static void test_invalid_layer(void **state)
{
	static const struct tentry bad_wh[] = { { 'd', "etc" }, { 'd', "etc/.wh.x" } };
	static const struct tentry dotdot[] = { { 'f', "../escape", "x" } };
	static const struct tentry device[] = { { 'b', "etc/sda", NULL, 0, NULL, NULL, 0, 8, 0 } };
	/* what the kernel would only answer with ENOTDIR, ELOOP or EIO */
	static const struct tentry under_file[] = { { 'f', "a", "x" }, { 'f', "a/b", "y" } };
	static const struct tentry through_link[] = { { 'l', "d", "/tmp" }, { 'f', "d/x", "x" } };
	static const struct tentry hard_via_link[] = { { 'l', "d", "/tmp" }, { 'h', "x", "d/rvsecret" } };
	static const struct tentry hard_climbing[] = {
		{ 'l', "e", "../../../../../../../tmp" }, { 'h', "y", "e/rvsecret" } };
	const struct tentry *layers[] = { bad_wh, dotdot, device, under_file, through_link,
					  hard_via_link, hard_climbing };
	const size_t counts[] = { ELEMENTSOF(bad_wh), ELEMENTSOF(dotdot), ELEMENTSOF(device),
				  ELEMENTSOF(under_file), ELEMENTSOF(through_link),
				  ELEMENTSOF(hard_via_link), ELEMENTSOF(hard_climbing) };
	const char *reasons[] = { "a whiteout must be an empty regular file", "leaves the root",
				  "device nodes are not allowed",
				  "'a/b': its path goes through 'a', which is not a directory",
				  "'d/x': its path goes through 'd', a symlink",
				  "'x': its path goes through 'd', a symlink",
				  "'y': its path goes through 'e', a symlink" };
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;

	session_hello(s);
	for (size_t k = 0; k < ELEMENTSOF(layers); k++) {
		char d[80], name[32], p[4096], want[256];
		char *digests[1] = { d };
		uint64_t size;
		struct stat st;
		struct agent_layer_fault fault = { 0 };

		snprintf(name, sizeof(name), "bad%zu.tar.zst", k);
		make_layer(s->root, name, layers[k], counts[k], d, &size);
		int fd = open_in(s->root, name);
		assert_int_equal(agent_client_send_layer(s->ac, d, size, fd, NULL, NULL, &err), 0);
		close(fd);
		assert_int_equal(agent_client_assemble(s->ac, "demo", "example/bad:1", digests, 1, NULL,
						       &fault, &err), -EBADMSG);
		assert_int_equal(fault.fault, LAYER_FAULT_INVALID);
		assert_string_equal(fault.digest, d);
		free(fault.digest);
		snprintf(want, sizeof(want), "invalid layer %s of image example/bad:1: ", d);
		assert_memory_equal(errbuf_msg(&err), want, strlen(want));
		if (!strstr(errbuf_msg(&err), reasons[k]))
			fail_msg("layer %zu: '%s' lacks '%s'", k, errbuf_msg(&err), reasons[k]);
		assert_null(strstr(errbuf_msg(&err), "corrupt"));
		assert_null(strstr(errbuf_msg(&err), "rootfs-staging"));
		/* kept: its bytes are right, sending them again would not help */
		snprintf(p, sizeof(p), "%s/layers/unpacked/%s.invalid", s->root, d + 7);
		assert_int_equal(stat(p, &st), 0);
	}
	/* the session goes on */
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
}

/* A disk that refuses a write fails the layer as it arrives, as the host's error (not an
 * invalid layer), with the OS's reason and the entry's path; nothing of it is kept and
 * the rootfs assembled before is still the host's. */
static void test_unpack_write_fails(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	static char big[4 << 20];
	const struct tentry small[] = { { 'd', "bin" }, { 'f', "bin/kubelet", "v1\n", 0755 } };
	const struct tentry large[] = { { 'd', "bin" }, { 'f', "bin/kubelet", big, 0755 } };
	char d1[80], d2[80], p[4096];
	char *digests[2] = { d1, d2 };
	uint64_t s1, s2, sizes[2];
	bool have[2];
	struct stat st;

	memset(big, 'x', sizeof(big) - 1);
	make_layer(s->root, "small.tar.zst", small, ELEMENTSOF(small), d1, &s1);
	make_layer(s->root, "large.tar.zst", large, ELEMENTSOF(large), d2, &s2);
	session_hello(s);
	int fd = open_in(s->root, "small.tar.zst");
	assert_int_equal(agent_client_send_layer(s->ac, d1, s1, fd, NULL, NULL, &err), 0);
	close(fd);
	assert_int_equal(agent_client_assemble(s->ac, "demo", "x:1", digests, 1, NULL, NULL, &err), 0);
	fd = open_in(s->root, "large.tar.zst");
	int r = agent_client_send_layer(s->ac, d2, s2, fd, NULL, NULL, &err);
	close(fd);
	if (r != -EFBIG || !strstr(errbuf_msg(&err), "writing 'bin/kubelet': File too large"))
		fail_msg("a failed write was not an error: %d %s", r, errbuf_msg(&err));
	assert_null(strstr(errbuf_msg(&err), "invalid"));
	assert_null(strstr(errbuf_msg(&err), ".partial"));
	sizes[0] = s1;
	sizes[1] = s2;
	assert_int_equal(agent_client_layers(s->ac, digests, sizes, 2, have, &err), 0);
	assert_true(have[0] && !have[1]);
	snprintf(p, sizeof(p), "%s/layers/unpacked/%s.partial", s->root, d2 + 7);
	assert_true(stat(p, &st) < 0);
	snprintf(p, sizeof(p), "%s/data/demo/rootfs/bin/kubelet", s->root);
	struct buf b = BUF_INIT(1 << 20);
	assert_int_equal(buf_read_file(&b, p), 0);
	assert_string_equal(b.data, "v1\n");
	buf_release(&b);
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
}

static int session_setup_small_disk(void **state)
{
	agent_fsize_limit = 1 << 20;
	int r = session_setup(state);
	agent_fsize_limit = 0;
	return r;
}

struct collected {
	struct buf out;
};

static void collect(void *data, int stream, const char *buf, size_t n)
{
	struct collected *c = data;
	buf_printf(&c->out, "%d:", stream);
	buf_append(&c->out, buf, n);
}

static void test_exec(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	struct collected c = { BUF_INIT(1 << 20) };
	char k1[] = "CLUSTER_NAME", v1[] = "demo; rm -rf / 'quoted' $(x)", k2[] = "bad-key", v2[] = "x";
	struct kv env[] = { { k1, v1 } }, badenv[] = { { k2, v2 } };

	session_hello(s);
	assert_int_equal(agent_client_exec(s->ac, "echo \"$CLUSTER_NAME\"; echo err >&2; pwd; exit 3",
					   "/tmp", env, 1, 10, collect, &c, &ex, &err), 0);
	assert_int_equal(ex.exit_code, 3);
	assert_false(ex.timed_out);
	assert_non_null(strstr(c.out.data, "1:demo; rm -rf / 'quoted' $(x)\n"));
	assert_non_null(strstr(c.out.data, "2:err\n"));
	assert_non_null(strstr(c.out.data, "/tmp"));

	assert_int_equal(agent_client_exec(s->ac, "sleep 30", "", NULL, 0, 1, NULL, NULL, &ex, &err), 0);
	assert_true(ex.timed_out);
	assert_int_equal(ex.exit_code, -1);

	assert_int_equal(agent_client_exec(s->ac, "true", "", badenv, 1, 1, NULL, NULL, &ex, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "not a shell identifier"));
	/* the session goes on after an error */
	assert_int_equal(agent_client_exec(s->ac, "exit 0", "", NULL, 0, 5, NULL, NULL, &ex, &err), 0);
	assert_int_equal(ex.exit_code, 0);
	buf_release(&c.out);
}

/* Sends a hand-made request and returns the agent's ERROR message (malloc'd). */
static char *raw_error(struct session *s, uint8_t type, const struct buf *payload)
{
	struct proto_io io = proto_io_fd(s->fds);
	struct frame f;
	char *msg = NULL;
	uint32_t code;

	frame_init(&f);
	assert_int_equal(proto_write_frame(&io, type, payload->data, payload->len), 0);
	assert_int_equal(proto_read_frame(&io, &f), 0);
	assert_int_equal(f.type, MSG_ERROR);
	struct cursor c = cursor_of(f.payload.data, f.payload.len);
	assert_int_equal(cur_u32(&c, &code), 0);
	assert_true(code == EBADMSG || code == E2BIG);
	assert_int_equal(cur_str(&c, 4096, &msg), 0);
	frame_release(&f);
	return msg;
}

/* Hostile fields are refused where they are decoded, each named, and the session goes on. */
static void test_hostile_requests(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct buf p = BUF_INIT(PROTO_MAX_FRAME);
	char *msg;

	session_hello(s);
	/* a digest in ASSEMBLE that LAYER_BEGIN would refuse: upper case, a path */
	/* as long as a real one, so only the digest check can refuse them */
	const char *bad_digests[] = {
		"sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
		"sha256:../../../../../../../../../../../../../../../../../../../../../a",
		"md5:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef012",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad_digests); i++) {
		assert_int_equal(strlen(bad_digests[i]), 71);
		buf_reset(&p);
		proto_put_str(&p, "demo");
		proto_put_u32(&p, 1);
		proto_put_str(&p, bad_digests[i]);
		msg = raw_error(s, MSG_ASSEMBLE, &p);
		assert_string_equal(msg, "malformed ASSEMBLE: digest is not a digest (sha256: and 64 "
				    "lower-case hex digits)");
		free(msg);
	}
	/* a cluster name that is a path */
	buf_reset(&p);
	proto_put_str(&p, "../x");
	proto_put_u32(&p, 0);
	msg = raw_error(s, MSG_SETUP, &p);
	assert_non_null(strstr(msg, "malformed SETUP: cluster is not a valid name"));
	free(msg);
	/* trailing bytes after a well-formed request */
	buf_reset(&p);
	proto_put_str(&p, "true");
	proto_put_str(&p, "");
	proto_put_u32(&p, 5);
	proto_put_u32(&p, 0);
	proto_put_u32(&p, 0xdeadbeef);
	msg = raw_error(s, MSG_EXEC, &p);
	assert_string_equal(msg, "malformed EXEC: 4 trailing byte(s)");
	free(msg);
	buf_reset(&p);
	proto_put_u32(&p, 0);
	msg = raw_error(s, MSG_FACTS_REQ, &p);
	assert_string_equal(msg, "malformed FACTS_REQ: 4 trailing byte(s)");
	free(msg);
	/* a huge count is refused before anything is allocated for it */
	buf_reset(&p);
	proto_put_str(&p, "demo");
	proto_put_u32(&p, 0xffffffff);
	msg = raw_error(s, MSG_ASSEMBLE, &p);
	assert_non_null(strstr(msg, "malformed ASSEMBLE: layer count 4294967295 is more than"));
	free(msg);
	buf_reset(&p);
	proto_put_u32(&p, 1000);
	msg = raw_error(s, MSG_LAYERS_REQ, &p);
	assert_string_equal(msg, "malformed LAYERS_REQ: layer count is more than the message holds");
	free(msg);
	/* a relative or escaping cwd, an over-long timeout */
	const char *cwds[] = { "tmp", "/tmp/../etc", "/./x" };
	for (size_t i = 0; i < ELEMENTSOF(cwds); i++) {
		buf_reset(&p);
		proto_put_str(&p, "true");
		proto_put_str(&p, cwds[i]);
		proto_put_u32(&p, 5);
		proto_put_u32(&p, 0);
		msg = raw_error(s, MSG_EXEC, &p);
		assert_non_null(strstr(msg, "malformed EXEC: cwd"));
		free(msg);
	}
	buf_reset(&p);
	proto_put_str(&p, "true");
	proto_put_str(&p, "/");
	proto_put_u32(&p, 0xffffffff);
	proto_put_u32(&p, 0);
	msg = raw_error(s, MSG_EXEC, &p);
	assert_non_null(strstr(msg, "malformed EXEC: timeout"));
	free(msg);
	buf_release(&p);
	/* still in step */
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
}

/* A field that does not fit fails the request before anything is sent, naming the field. */
static void test_oversized_request(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	char *big = malloc(PROTO_MAX_FRAME + 1);
	char k[] = "BIG";
	struct kv env[] = { { k, big } };

	memset(big, 'x', PROTO_MAX_FRAME);
	big[PROTO_MAX_FRAME] = '\0';
	session_hello(s);
	assert_int_equal(agent_client_exec(s->ac, big, "", NULL, 0, 5, NULL, NULL, &ex, &err), -E2BIG);
	assert_non_null(strstr(errbuf_msg(&err), "EXEC: the command does not fit"));
	assert_int_equal(agent_client_exec(s->ac, "true", "", env, 1, 5, NULL, NULL, &ex, &err), -E2BIG);
	assert_non_null(strstr(errbuf_msg(&err), "EXEC: the env value does not fit"));
	assert_int_equal(agent_client_setup(s->ac, "demo", env, 1, 0, NULL, &err), -E2BIG);
	assert_non_null(strstr(errbuf_msg(&err), "SETUP: the env value does not fit"));
	/* nothing half-sent: the session goes on */
	assert_int_equal(agent_client_exec(s->ac, "exit 4", "", NULL, 0, 5, NULL, NULL, &ex, &err), 0);
	assert_int_equal(ex.exit_code, 4);
	free(big);
}

/* SETUP's flags are its last field: env filling the request to within 3 bytes of the cap
 * must fail the request naming the flags, not send SETUP without them (the agent would
 * read an old client's flags 0 and --force would be lost). */
static void test_setup_flags_do_not_fit(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	char keys[16][4];
	struct kv env[16];
	/* payload: "demo" (8) + count (4) + 16 x (key 4+3, value 4+len) = 188 + values; the
	 * values below make it 1048574, which leaves no room for the 4 bytes of flags */
	size_t values = 1048386, each = values / 16;

	for (size_t i = 0; i < 16; i++) {
		size_t n = i == 15 ? values - 15 * each : each;
		snprintf(keys[i], sizeof(keys[i]), "K%02zu", i);
		env[i].key = keys[i];
		env[i].value = malloc(n + 1);
		memset(env[i].value, 'v', n);
		env[i].value[n] = '\0';
	}
	session_hello(s);
	assert_int_equal(agent_client_setup(s->ac, "demo", env, 16, PROTO_SETUP_FORCE, NULL, &err),
			 -E2BIG);
	assert_non_null(strstr(errbuf_msg(&err), "SETUP: the flags does not fit"));
	/* nothing was sent: the next request is answered in step */
	assert_int_equal(agent_client_exec(s->ac, "exit 5", "", NULL, 0, 5, NULL, NULL, &ex, &err), 0);
	assert_int_equal(ex.exit_code, 5);
	for (size_t i = 0; i < 16; i++)
		free(env[i].value);
}

static char *read_rootfs(const struct session *s, const char *rel)
{
	_cleanup_buf_ struct buf b = BUF_INIT(1 << 16);
	char p[4096];

	snprintf(p, sizeof(p), "%s/data/demo/rootfs/%s", s->root, rel);
	assert_int_equal(buf_read_file(&b, p), 0);
	return xstrdup(b.data ? b.data : "");
}

/* CONFIG: refused before this session assembled the rootfs (a re-run that skipped the
 * assembly would append twice); applied after; the same append after a fresh assembly
 * gives the same file; a failure names the Config's file:line and the target. */
static void test_config(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	char da[80];
	uint64_t sa;
	char *digests[1] = { da };
	char name_app[] = "app", path_app[] = "/etc/a.conf", data_app[] = "added\n",
	     file[] = "Clusterfile", name_out[] = "out", path_out[] = "etc/link/x", data_out[] = "x";
	struct config_doc app = { .name = name_app, .path = path_app, .data = data_app,
				  .strategy = CONFIG_APPEND, .file = file, .line = 7 };
	struct config_doc out = { .name = name_out, .path = path_out, .data = data_out,
				  .strategy = CONFIG_OVERRIDE, .file = file, .line = 12 };

	make_layer(s->root, "a.tar.zst", layer_a, ELEMENTSOF(layer_a), da, &sa);
	session_hello(s);
	int fd = open_in(s->root, "a.tar.zst");
	assert_int_equal(agent_client_send_layer(s->ac, da, sa, fd, NULL, NULL, &err), 0);
	close(fd);
	assert_int_equal(agent_client_config(s->ac, "demo", &app, &err), -EPROTO);
	assert_non_null(strstr(errbuf_msg(&err), "Clusterfile:7"));
	assert_non_null(strstr(errbuf_msg(&err), "before this session assembled"));

	for (int run = 0; run < 3; run++) {
		assert_int_equal(agent_client_assemble(s->ac, "demo", "img", digests, 1, NULL, NULL,
						       &err), 0);
		assert_int_equal(agent_client_config(s->ac, "demo", &app, &err), 0);
		_cleanup_free_ char *got = read_rootfs(s, "etc/a.conf");
		assert_string_equal(got, "a\nadded\n");
	}
	/* another cluster's rootfs was not assembled by this session */
	assert_int_equal(agent_client_config(s->ac, "other", &app, &err), -EPROTO);

	/* a symlink out of the rootfs on the way to the target */
	char p[4096];
	snprintf(p, sizeof(p), "%s/data/demo/rootfs/etc/link", s->root);
	assert_int_equal(symlink(s->root, p), 0);
	assert_true(agent_client_config(s->ac, "demo", &out, &err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "Clusterfile:12"));
	assert_non_null(strstr(errbuf_msg(&err), "etc/link"));
	snprintf(p, sizeof(p), "%s/x", s->root);
	assert_int_equal(access(p, F_OK), -1);
	/* the session is still in step */
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
}

/* One entry of a tar written with its length (a layer blob holds NUL bytes). */
static void tar_add(struct archive *a, const char *path, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* A docker-archive at path: one layer holding one file with content, tagged tag. */
static void write_docker_archive(const char *root, const char *path, const char *content,
				 const char *tag)
{
	_cleanup_buf_ struct buf layer = BUF_INIT(1 << 20);
	_cleanup_free_ char *lpath = xasprintf("%s/layer-tmp.tar", root);
	_cleanup_free_ char *config = NULL, *cname = NULL, *manifest = NULL;
	char lhex[SHA256_HEX_SIZE], chex[SHA256_HEX_SIZE];
	const struct tentry f[] = { { 'f', "hello", content } };
	struct archive *a = archive_write_new();

	assert_int_equal(write_layer(lpath, "none", f, 1), 0);
	assert_int_equal(buf_read_file(&layer, lpath), 0);
	assert_int_equal(sha256_buf(layer.data, layer.len, lhex), 0);
	config = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":"
			   "{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}", lhex);
	assert_int_equal(sha256_buf(config, strlen(config), chex), 0);
	cname = xasprintf("%s.json", chex);
	manifest = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"%s\"],\"Layers\":[\"l/layer.tar\"]}]",
			     cname, tag);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	tar_add(a, "l/layer.tar", layer.data, layer.len);
	tar_add(a, cname, config, strlen(config));
	tar_add(a, "manifest.json", manifest, strlen(manifest));
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* REGISTRY_IMPORT: an archive of the rootfs's images/ served under sealer's name; the
 * same content under the same name again is fine; another archive serving that name with
 * other content is refused naming both; a symlink in images/ is never followed (the file
 * it names, outside the rootfs, is not imported). */
static void test_registry_import(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	char da[80], p[4096];
	uint64_t sa;
	char *digests[1] = { da };
	_cleanup_free_ char *images = xasprintf("%s/data/demo/rootfs/images", s->root);
	_cleanup_free_ char *detail = NULL, *again = NULL;

	make_layer(s->root, "a.tar.zst", layer_a, ELEMENTSOF(layer_a), da, &sa);
	session_hello(s);
	int fd = open_in(s->root, "a.tar.zst");
	assert_int_equal(agent_client_send_layer(s->ac, da, sa, fd, NULL, NULL, &err), 0);
	close(fd);
	assert_int_equal(agent_client_assemble(s->ac, "demo", "img", digests, 1, NULL, NULL, &err), 0);
	assert_int_equal(mkdir(images, 0755), 0);
	snprintf(p, sizeof(p), "%s/one.tar", images);
	write_docker_archive(s->root, p, "one", "registry.k8s.io/pause:3.9");
	snprintf(p, sizeof(p), "%s/same.tar", images);
	write_docker_archive(s->root, p, "one", "registry.k8s.io/pause:3.9");
	snprintf(p, sizeof(p), "%s/two.tar", images);
	write_docker_archive(s->root, p, "two", "registry.k8s.io/pause:3.9");
	snprintf(p, sizeof(p), "%s/outside.tar", s->root);
	write_docker_archive(s->root, p, "out", "docker.io/library/outside:1");
	snprintf(p, sizeof(p), "%s/evil.tar", images);
	assert_int_equal(symlink("../../../../outside.tar", p), 0);

	assert_int_equal(agent_client_registry_import(s->ac, "demo", "one.tar", &detail, NULL, NULL, &err), 0);
	assert_string_equal(detail, "1 image: pause:3.9 (3 new blobs, 0 kept)");
	snprintf(p, sizeof(p), "%s/data/demo/registry/docker/registry/v2/repositories/pause/"
		 "_manifests/tags/3.9/current/link", s->root);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(agent_client_registry_import(s->ac, "demo", "same.tar", &again, NULL, NULL, &err), 0);
	assert_string_equal(again, "1 image: pause:3.9 (0 new blobs, 3 kept)");

	_cleanup_buf_ struct buf was = BUF_INIT(4096), now = BUF_INIT(4096);
	assert_int_equal(buf_read_file(&was, p), 0);
	assert_int_equal(agent_client_registry_import(s->ac, "demo", "two.tar", NULL, NULL, NULL, &err), -EEXIST);
	assert_non_null(strstr(errbuf_msg(&err), "images/one.tar and images/two.tar both serve pause:3.9"));
	/* the tag two.tar published is pointed back at one.tar's manifest */
	assert_int_equal(buf_read_file(&now, p), 0);
	assert_string_equal(now.data, was.data);

	/* the registry hosts of the names imported, each once, in the order met: cirun's
	 * containerd mirrors */
	char **src = NULL;
	size_t nsrc = 0;
	snprintf(p, sizeof(p), "%s/others.tar", images);
	/* three RepoTags: the helper writes the string between its quotes */
	write_docker_archive(s->root, p, "others", "ghcr.io/x/y:1\",\"myreg.example:5000/a/b:2"
			     "\",\"ghcr.io/x/z:1");
	errbuf_clear(&err);
	assert_int_equal(agent_client_registry_import(s->ac, "demo", "others.tar", NULL, &src, &nsrc,
						      &err), 0);
	assert_int_equal(nsrc, 2);
	assert_string_equal(src[0], "ghcr.io");
	assert_string_equal(src[1], "myreg.example:5000");
	for (size_t i = 0; i < nsrc; i++)
		free(src[i]);
	free(src);
	snprintf(p, sizeof(p), "%s/data/demo/registry/docker/registry/v2/repositories/a/b/"
		 "_manifests/tags/2/current/link", s->root);
	assert_int_equal(access(p, F_OK), 0);
	src = NULL;
	assert_int_equal(agent_client_registry_import(s->ac, "demo", "same.tar", NULL, &src, &nsrc,
						      &err), 0);
	assert_int_equal(nsrc, 1);
	assert_string_equal(src[0], "registry.k8s.io");
	free(src[0]);
	free(src);

	errbuf_clear(&err);
	assert_true(agent_client_registry_import(s->ac, "demo", "evil.tar", NULL, NULL, NULL, &err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "evil.tar"));
	snprintf(p, sizeof(p), "%s/data/demo/registry/docker/registry/v2/repositories/outside", s->root);
	assert_int_equal(access(p, F_OK), -1);
	/* a name the decoder refuses never reaches the disk */
	assert_true(agent_client_registry_import(s->ac, "demo", "../outside.tar", NULL, NULL, NULL, &err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "plain file name"));
}

/* KUBEADM_CONFIG through a session: the agent answers where it wrote the file (0600 in
 * data/CLUSTER), and refuses a path for a name without touching the disk. */
static void test_kubeadm_config(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *dir = xasprintf("%s/data/demo", s->root);
	_cleanup_free_ char *want = xasprintf("%s/data/demo/kubeadm-join.yaml", s->root);
	_cleanup_free_ char *path = NULL;
	_cleanup_buf_ struct buf got = BUF_INIT(4096);
	struct stat st;

	session_hello(s);
	/* no data/demo yet (no ASSEMBLE): refused, nothing created */
	assert_true(agent_client_kubeadm_config(s->ac, "demo", "kubeadm-join.yaml", "a: 1\n", NULL,
						&err) < 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	errbuf_clear(&err);
	assert_int_equal(agent_client_kubeadm_config(s->ac, "demo", "kubeadm-join.yaml",
						     "kind: JoinConfiguration\n", &path, &err), 0);
	assert_string_equal(path, want);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(buf_read_file(&got, want), 0);
	assert_string_equal(got.data, "kind: JoinConfiguration\n");
	assert_true(agent_client_kubeadm_config(s->ac, "demo", "../kubeadm-x.yaml", "x", NULL,
						&err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "malformed KUBEADM_CONFIG: name"));
	/* the session goes on after a refusal */
	assert_int_equal(agent_client_kubeadm_config(s->ac, "demo", "kubeadm-init.yaml", "b: 2\n",
						     NULL, &err), 0);
}


/* A second agent on the same root, as a second run's would be; other_fd (the first
 * session's end) is closed in it, so the first agent still sees its cirun go. */
struct peer {
	pid_t pid;
	int fds[2];
	struct agent_client *ac;
};

static void peer_start(struct peer *p, int other_fd)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		close(sv[0]);
		close(other_fd);
		_exit(agent_serve(sv[1], sv[1]) < 0 ? 1 : 0);
	}
	close(sv[1]);
	p->fds[0] = p->fds[1] = sv[0];
	agent_client_new(proto_io_fd(p->fds), &p->ac);
}

static void peer_stop(struct peer *p)
{
	close(p->fds[0]);
	waitpid(p->pid, NULL, 0);
	agent_client_free(p->ac);
}

static char *lock_record(const char *root)
{
	char path[4096], *data = calloc(1, 8192);
	snprintf(path, sizeof(path), "%s/lock", root);
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_true(read(fd, data, 8191) >= 0);
	close(fd);
	return data;
}

/* Nothing that changes the host runs before LOCK: an EXEC, a SETUP and a layer upload are
 * refused (the upload at its LAYER_END, which is where it replies) and leave nothing. */
static void test_changes_wait_for_the_lock(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	char digest[80], path[4096], *facts = NULL;
	uint64_t size;
	int fd;

	make_layer(s->root, "a.tar.zst", layer_a, ELEMENTSOF(layer_a), digest, &size);
	assert_int_equal(agent_client_hello(s->ac, NULL, &err), 0);
	assert_int_equal(agent_client_exec(s->ac, "touch ran", s->root, NULL, 0, 5, NULL, NULL,
					   &ex, &err), -ENOLCK);
	assert_non_null(strstr(errbuf_msg(&err), "EXEC before LOCK"));
	assert_int_equal(agent_client_setup(s->ac, "demo", NULL, 0, 0, NULL, &err), -ENOLCK);
	fd = open_in(s->root, "a.tar.zst");
	assert_int_equal(agent_client_send_layer(s->ac, digest, size, fd, NULL, NULL, &err), -ENOLCK);
	close(fd);
	assert_non_null(strstr(errbuf_msg(&err), "LAYER_BEGIN before LOCK"));
	snprintf(path, sizeof(path), "%s/ran", s->root);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/layers", s->root);
	assert_int_equal(access(path, F_OK), -1);
	/* facts only read: they may come first */
	assert_int_equal(agent_client_facts(s->ac, &facts, &err), 0);
	free(facts);
	assert_int_equal(agent_client_lock(s->ac, "demo", "run", "ctl-1", 4242, 0, NULL, &err), 0);
	assert_int_equal(agent_client_exec(s->ac, "touch ran", s->root, NULL, 0, 5, NULL, NULL,
					   &ex, &err), 0);
	assert_int_equal(ex.exit_code, 0);
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
}

/* A second session is refused while the first holds the lock, --force or not, naming the
 * holder; it changes nothing; once the first ends, the lock is free (not stale). */
static void test_second_session_refused(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	struct peer p;
	char *detail = NULL, *rec;

	session_hello(s);
	peer_start(&p, s->fds[0]);
	assert_int_equal(agent_client_hello(p.ac, NULL, &err), 0);
	for (uint32_t flags = 0; flags <= PROTO_LOCK_FORCE; flags++) {
		assert_int_equal(agent_client_lock(p.ac, "other", "apply", "ctl-2", 77, flags, NULL,
						   &err), -EBUSY);
		assert_non_null(strstr(errbuf_msg(&err), "locked by another cirun run: `cirun run` of "
				       "cluster demo from ctl-1 (pid 4242), since "));
		assert_non_null(strstr(errbuf_msg(&err), "--force never breaks a live lock"));
	}
	assert_int_equal(agent_client_exec(p.ac, "true", "", NULL, 0, 5, NULL, NULL, &ex, &err),
			 -ENOLCK);
	rec = lock_record(s->root);
	assert_non_null(strstr(rec, "owner-host ctl-1\nowner-pid 4242\ncluster demo\n"));
	free(rec);
	/* the first session ends cleanly: its record is cleared */
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
	close(s->fds[0]);
	waitpid(s->pid, NULL, 0);
	s->fds[0] = socket(AF_UNIX, SOCK_STREAM, 0); /* for the teardown's close */
	rec = lock_record(s->root);
	assert_string_equal(rec, "");
	free(rec);
	assert_int_equal(agent_client_lock(p.ac, "other", "apply", "ctl-2", 77, 0, &detail, &err), 0);
	assert_string_equal(detail, "");
	free(detail);
	rec = lock_record(s->root);
	assert_non_null(strstr(rec, "owner-host ctl-2\nowner-pid 77\ncluster other\ncommand apply\n"));
	free(rec);
	assert_int_equal(agent_client_bye(p.ac, &err), 0);
	peer_stop(&p);
}

/* An agent killed while holding the lock leaves its record: the next session reports it
 * as stale (its holder gone) and takes it only with --force. */
static void test_killed_holder_is_stale(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	struct peer p;
	char *detail = NULL;

	session_hello(s);
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	peer_start(&p, s->fds[0]);
	assert_int_equal(agent_client_hello(p.ac, NULL, &err), 0);
	assert_int_equal(agent_client_lock(p.ac, "demo", "run", "ctl-2", 77, 0, NULL, &err), -ESTALE);
	assert_non_null(strstr(errbuf_msg(&err), "stale lock "));
	assert_non_null(strstr(errbuf_msg(&err), "`cirun run` of cluster demo from ctl-1 (pid 4242)"));
	assert_non_null(strstr(errbuf_msg(&err), "is gone without releasing it"));
	assert_non_null(strstr(errbuf_msg(&err), "run again with --force to break it"));
	assert_int_equal(agent_client_lock(p.ac, "demo", "run", "ctl-2", 77, PROTO_LOCK_FORCE,
					   &detail, &err), 0);
	assert_non_null(strstr(detail, "broke the stale lock"));
	free(detail);
	assert_int_equal(agent_client_exec(p.ac, "true", "", NULL, 0, 5, NULL, NULL, &ex, &err), 0);
	assert_int_equal(agent_client_bye(p.ac, &err), 0);
	peer_stop(&p);
}

/* A holder that stopped renewing (its record's expiry passed while it keeps the flock: hung
 * or stopped) is stale: --force puts a new lock in its place, and the old session, when it
 * asks for anything more, is told its lock was broken and changes nothing. */
static void test_hung_holder_broken(void **state)
{
	struct session *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	struct peer p;
	char *detail = NULL, *rec, path[4096];

	session_hello(s);
	/* LOCK again in the same session: it holds it already */
	assert_int_equal(agent_client_lock(s->ac, "demo", "run", "ctl-1", 4242, 0, NULL, &err), 0);
	rec = lock_record(s->root);
	char *exp = strstr(rec, "\nexpires ");
	assert_non_null(exp);
	strcpy(exp, "\nexpires 1700000000\n"); /* as if not renewed since 2023 */
	char *since = strstr(rec, "\nsince ");
	memcpy(since, "\nsince 1600000000", strlen("\nsince 1600000000"));
	snprintf(path, sizeof(path), "%s/lock", s->root);
	int fd = open(path, O_WRONLY | O_TRUNC); /* the same file: the agent keeps its flock */
	assert_int_equal(write(fd, rec, strlen(rec)), (ssize_t)strlen(rec));
	close(fd);
	free(rec);
	peer_start(&p, s->fds[0]);
	assert_int_equal(agent_client_hello(p.ac, NULL, &err), 0);
	assert_int_equal(agent_client_lock(p.ac, "demo", "run", "ctl-2", 77, 0, NULL, &err), -ESTALE);
	assert_non_null(strstr(errbuf_msg(&err), "still holds it but stopped renewing it"));
	assert_int_equal(agent_client_lock(p.ac, "demo", "run", "ctl-2", 77, PROTO_LOCK_FORCE,
					   &detail, &err), 0);
	assert_non_null(strstr(detail, "broke the stale lock"));
	free(detail);
	assert_int_equal(agent_client_exec(s->ac, "true", "", NULL, 0, 5, NULL, NULL, &ex, &err),
			 -ESTALE);
	assert_non_null(strstr(errbuf_msg(&err), "was broken by another run"));
	assert_int_equal(agent_client_exec(p.ac, "true", "", NULL, 0, 5, NULL, NULL, &ex, &err), 0);
	/* the old session's end leaves the new holder's record alone */
	assert_int_equal(agent_client_bye(s->ac, &err), 0);
	close(s->fds[0]);
	waitpid(s->pid, NULL, 0);
	s->fds[0] = socket(AF_UNIX, SOCK_STREAM, 0);
	rec = lock_record(s->root);
	assert_non_null(strstr(rec, "owner-host ctl-2\n"));
	free(rec);
	assert_int_equal(agent_client_bye(p.ac, &err), 0);
	peer_stop(&p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, session_setup, session_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_hello_and_facts),
		T(test_layers_and_assembly),
		T(test_invalid_layer),
		cmocka_unit_test_setup_teardown(test_unpack_write_fails, session_setup_small_disk,
						session_teardown),
		T(test_exec),
		T(test_hostile_requests),
		T(test_oversized_request),
		T(test_setup_flags_do_not_fit),
		T(test_config),
		T(test_registry_import),
		T(test_kubeadm_config),
		T(test_changes_wait_for_the_lock),
		T(test_second_session_refused),
		T(test_killed_holder_is_stale),
		T(test_hung_holder_broken),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("agent-session", tests, NULL, NULL);
}
